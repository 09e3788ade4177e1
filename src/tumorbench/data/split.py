"""The splits of a benchmark: validation stratified from the training split only (fixed by the seed),
unreadable files left out, and the duplicate-aware options (`dedup`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tumorbench._io import atomic_write
from tumorbench.classes import CLASS_NAMES
from tumorbench.config import VAL_GROUPS
from tumorbench.data.appearance import cluster_split
from tumorbench.data.duplicates import (
    DuplicateGroups,
    clean_validation,
    drop_duplicated,
    group_split,
)
from tumorbench.data.folder import DatasetIndex, ImageRecord

log = logging.getLogger(__name__)


def stratified_split(
    records: Sequence[ImageRecord], *, fraction: float, seed: int
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Split training records into (train, val), keeping class proportions.

    The split depends only on the file list and the seed, not on the order files were listed in.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    ordered = sorted(records, key=lambda r: r.path)
    labels = [r.label for r in ordered]
    if any(label is None for label in labels):
        raise ValueError("the training split has images without a class folder; cannot train on them")
    counts = pd.Series(labels).value_counts()
    too_small = counts[counts < 2]
    if not too_small.empty:
        raise ValueError(
            f"class(es) {list(too_small.index)} have fewer than 2 training images; a stratified "
            "validation split needs at least 2 per class"
        )
    n_val = max(len(counts), round(fraction * len(ordered)))
    if len(ordered) - n_val < len(counts):
        # Stratification needs every class on both sides; say which setting to change, not scikit-learn's words.
        raise ValueError(
            f"val_fraction {fraction:g} leaves {len(ordered) - n_val} of {len(ordered)} training images for "
            f"training, fewer than the {len(counts)} classes; lower val_fraction (default 0.2)"
        )
    try:
        train, val = train_test_split(ordered, test_size=n_val, stratify=labels, random_state=seed)
    except ValueError as exc:  # scikit-learn's words name its own arguments, not ours
        raise ValueError(f"cannot draw a stratified validation split of val_fraction {fraction:g} from "
                         f"{len(ordered)} training images ({dict(counts)}): {exc}; change val_fraction") from None
    return sorted(train, key=lambda r: r.path), sorted(val, key=lambda r: r.path)


def missing_classes(records: Sequence[ImageRecord]) -> list[str]:
    """The classes of CLASS_NAMES with no labelled image among `records`, in class order."""
    present = {r.label for r in records}
    return [c for c in CLASS_NAMES if c not in present]


def coverage_warnings(splits: dict[str, Sequence[ImageRecord]]) -> list[str]:
    """A sentence for each split that lacks classes: its scores say nothing about those classes."""
    out = []
    for name, records in splits.items():
        missing = missing_classes(records)
        if missing and records:
            out.append(f"the {name} split has no image of {', '.join(missing)}: its scores say nothing about "
                       f"{'that class' if len(missing) == 1 else 'those classes'}")
    return out


def check_trainable(records: Sequence[ImageRecord], *, where: str) -> None:
    """Refuse a training split with fewer than two classes: any model would score 100 % by predicting it."""
    present = sorted({r.label for r in records if r.label is not None})
    if len(present) < 2:
        raise ValueError(
            f"{where}: the training split has {'only the class ' + present[0] if present else 'no labelled image'}"
            f"; a classifier needs at least two classes to learn anything (expected class folders: "
            f"{', '.join(CLASS_NAMES)})"
        )


def write_split_list(path: str | os.PathLike, records: Sequence[ImageRecord]) -> Path:
    """Save a split as a CSV file list (image, label) in the run folder."""
    frame = pd.DataFrame({"image": [r.path for r in records], "label": [r.label or "" for r in records]})
    return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def read_split_list(path: str | os.PathLike) -> list[ImageRecord]:
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    return [ImageRecord(img, lab or None) for img, lab in zip(frame["image"], frame["label"])]


@dataclass
class SplitRecords:
    """The three splits a benchmark trains, selects and scores on."""

    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord]


def split_dataset(index: DatasetIndex, readable: Callable[[Sequence[ImageRecord]], list[ImageRecord]], *,
                  val_fraction: float, seed: int, dedup: str = "none",
                  duplicates: DuplicateGroups | None = None, val_groups: str = "none",
                  appearance: Callable[[Sequence[ImageRecord]], np.ndarray] | None = None) -> SplitRecords:
    """Train/val/test records of readable files; val comes from Training, never from Testing.

    `readable` drops the files that cannot be decoded (`ArrayCache.readable`). With `dedup` drop_test
    the test images duplicated in Training are left out (and validation images duplicated in training
    move to training, so the best epoch is not chosen on copies); clean_val does only the latter (the
    test split stays whole: choices are made on images without a copy in training, scores are on the
    dataset's own test split); with group_split every image is re-split by groups of duplicates. All
    three need the dataset's `duplicates`
    (`tumorbench.audit.duplicate_groups(audit)`).

    `val_groups` cluster holds out whole clusters of similar-looking training images per class instead of
    a random share (`tumorbench.data.appearance.cluster_split`); `appearance` gives the records'
    descriptors (`appearance_descriptors` of their pixels)."""
    train_all, test = readable(index.records("train")), readable(index.records("test"))
    explicit_val = index.splits.get("val")
    val_all = readable(explicit_val or [])
    if not train_all:
        raise ValueError(f"{index.root}: the training split has no readable images")
    if not test:
        raise ValueError(f"{index.root}: the test split has no readable images")
    if dedup != "none" and duplicates is None:
        raise ValueError(f"dedup={dedup!r} needs the dataset audit; use dedup=none")
    if val_groups not in VAL_GROUPS:
        raise ValueError(f"unknown val_groups {val_groups!r}; valid: {', '.join(VAL_GROUPS)}")
    if val_groups == "cluster" and (dedup == "group_split" or explicit_val):
        raise ValueError(f"{index.root}: val_groups=cluster draws validation from the training split; it does not "
                         f"apply {'with dedup=group_split' if dedup == 'group_split' else 'to a dataset with its own validation folder'}"
                         "; set val_groups: none (CLI: --set val_groups=none)")
    if val_groups == "cluster" and appearance is None:
        raise ValueError("val_groups=cluster needs the images' appearance descriptors; use val_groups=none")
    if dedup == "group_split":
        return _group_split(train_all + val_all, test, duplicates,
                            val_fraction=val_fraction, seed=seed)
    if dedup == "drop_test":
        kept = drop_duplicated(test, train_all + val_all, duplicates)
        if not kept:
            raise ValueError(f"{index.root}: every test image has a duplicate in training, so dedup=drop_test "
                             "leaves none; use dedup=group_split to re-split the images by duplicate groups")
        log.info("dedup=drop_test: %d of %d test images with a duplicate in training left out",
                 len(test) - len(kept), len(test))
        test = kept
    if explicit_val:
        train, val = train_all, val_all
    elif val_groups == "cluster":
        train, val = cluster_split(train_all, appearance(train_all), fraction=val_fraction, seed=seed)
        log.info("val_groups=cluster: %d validation images in whole appearance clusters held out per class",
                 len(val))
    else:
        train, val = stratified_split(train_all, fraction=val_fraction, seed=seed)
    if dedup in ("drop_test", "clean_val"):
        train, clean_val, moved = clean_validation(train, val, duplicates)
        if not clean_val:
            raise ValueError(f"{index.root}: every validation image has a duplicate in training; use "
                             "dedup=group_split to re-split the images by duplicate groups")
        if moved:
            log.info("dedup=%s: %d validation image(s) with a duplicate in training moved to training",
                     dedup, moved)
        val = clean_val
    return SplitRecords(train, val, test)


def _group_split(development: list[ImageRecord], test: list[ImageRecord], duplicates: DuplicateGroups, *,
                 val_fraction: float, seed: int) -> SplitRecords:
    """Pool every image and draw test (about its former share) and then val (val_fraction of the rest)
    by groups of exact and near duplicates, stratified by class: no group straddles two splits."""
    pool = development + test
    if any(r.label is None for r in pool):
        raise ValueError("dedup=group_split re-splits labelled images only; some split folder holds images "
                         "without class folders: use dedup=drop_test or none")
    rest, new_test = group_split(pool, duplicates, fraction=len(test) / len(pool), seed=seed)
    train, val = group_split(rest, duplicates, fraction=val_fraction, seed=seed)
    log.info("dedup=group_split: %d train, %d val, %d test images, re-split by duplicate groups (the test "
             "split is no longer the dataset's own)", len(train), len(val), len(new_test))
    return SplitRecords(train, val, new_test)
