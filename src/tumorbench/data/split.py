"""The splits of a benchmark: validation stratified from the training split only (fixed by the seed),
unreadable files left out, and the duplicate-aware options (`dedup`). A flat dataset (one folder per
class, no split folders) first has its test split drawn, stratified, with `test_fraction`."""

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
from tumorbench.classes import order_classes
from tumorbench.data.appearance import cluster_split
from tumorbench.data.duplicates import (
    DuplicateGroups,
    clean_validation,
    drop_duplicated,
    group_split,
)
from tumorbench.data.folder import FLAT_SPLIT, DatasetIndex, ImageRecord
from tumorbench.data.split_settings import VAL_GROUPS

log = logging.getLogger(__name__)


def stratified_split(
    records: Sequence[ImageRecord], *, fraction: float, seed: int, key: str = "val_fraction"
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Split records into (rest, held out), keeping class proportions: training into (train, val), or a
    flat dataset into (development, test) with `key` "test_fraction" (the setting errors name).

    The split depends only on the file list and the seed, not on the order files were listed in.
    """
    held, source = ("test", "dataset") if key == "test_fraction" else ("validation", "training")
    if not 0 < fraction < 1:
        raise ValueError(f"{key} must be between 0 and 1, got {fraction}")
    ordered = sorted(records, key=lambda r: r.path)
    labels = [r.label for r in ordered]
    if any(label is None for label in labels):
        raise ValueError(f"the {source} split has images without a class folder; cannot train on them")
    counts = pd.Series(labels).value_counts()
    too_small = counts[counts < 2]
    if not too_small.empty:
        raise ValueError(
            f"class(es) {list(too_small.index)} have fewer than 2 {source} images; a stratified "
            f"{held} split needs at least 2 per class"
        )
    n_val = max(len(counts), round(fraction * len(ordered)))
    if len(ordered) - n_val < len(counts):
        # Stratification needs every class on both sides; say which setting to change, not scikit-learn's words.
        raise ValueError(
            f"{key} {fraction:g} leaves {len(ordered) - n_val} of {len(ordered)} {source} images outside the "
            f"{held} split, fewer than the {len(counts)} classes; lower {key} (default 0.2)"
        )
    try:
        train, val = train_test_split(ordered, test_size=n_val, stratify=labels, random_state=seed)
    except ValueError as exc:  # scikit-learn's words name its own arguments, not ours
        raise ValueError(f"cannot draw a stratified {held} split of {key} {fraction:g} from "
                         f"{len(ordered)} {source} images ({dict(counts)}): {exc}; change {key}") from None
    return sorted(train, key=lambda r: r.path), sorted(val, key=lambda r: r.path)


def missing_classes(records: Sequence[ImageRecord], classes: Sequence[str]) -> list[str]:
    """The classes of `classes` with no labelled image among `records`, in class order."""
    present = {r.label for r in records}
    return [c for c in classes if c not in present]


def coverage_warnings(splits: dict[str, Sequence[ImageRecord]]) -> list[str]:
    """A sentence for each split that lacks some of the splits' classes: its scores say nothing about them."""
    classes = order_classes({r.label for records in splits.values() for r in records if r.label is not None})
    out = []
    for name, records in splits.items():
        missing = missing_classes(records, classes)
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
            "; a classifier needs at least two classes to learn anything (one class folder per class, e.g. "
            "Training/glioma/, Training/no_tumor/)"
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
                  val_fraction: float, seed: int, test_fraction: float = 0.2, dedup: str = "none",
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
    descriptors (`appearance_descriptors` of their pixels).

    A flat dataset (`index.flat`) first has a stratified test split of `test_fraction` drawn from its
    images (by duplicate groups with group_split), fixed by the seed; the rest is its training split."""
    if index.flat:
        return _split_flat(index, readable, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                           dedup=dedup, duplicates=duplicates, val_groups=val_groups, appearance=appearance)
    train_all, test = readable(index.records("train")), readable(index.records("test"))
    return _split(index, train_all, test, readable(index.splits.get("val") or []), val_fraction=val_fraction,
                  seed=seed, dedup=dedup, duplicates=duplicates, val_groups=val_groups, appearance=appearance)


def drawn_index(index: DatasetIndex, splits: SplitRecords) -> DatasetIndex:
    """A flat dataset's index with the splits drawn from it (for its audit: test images with a copy in
    training are found between the drawn splits)."""
    drawn = {name: list(getattr(splits, name)) for name in ("train", "val", "test")}
    return DatasetIndex(root=index.root, splits=drawn, split_dirs={name: f"{name} (drawn)" for name in drawn},
                        class_map=dict(index.class_map))


def _split_flat(index: DatasetIndex, readable, *, val_fraction: float, test_fraction: float, seed: int,
                dedup: str, duplicates: DuplicateGroups | None, **options) -> SplitRecords:
    pool = readable(index.records(FLAT_SPLIT))
    if not pool:
        raise ValueError(f"{index.root}: the dataset has no readable images")
    if dedup == "group_split":
        # Test is drawn by groups of duplicates in _group_split, with the share asked for.
        return _split(index, pool, [], [], val_fraction=val_fraction, seed=seed, dedup=dedup,
                      duplicates=duplicates, test_fraction=test_fraction, **options)
    try:
        development, test = stratified_split(pool, fraction=test_fraction, seed=seed, key="test_fraction")
    except ValueError as exc:
        raise ValueError(f"{index.root} (no split folders, so a test split is drawn): {exc}") from None
    log.info("%s has no split folders: %d test images drawn (test_fraction %g, stratified, seed %d)",
             index.root, len(test), test_fraction, seed)
    return _split(index, development, test, [], val_fraction=val_fraction, seed=seed, dedup=dedup,
                  duplicates=duplicates, **options)


def _split(index: DatasetIndex, train_all: list[ImageRecord], test: list[ImageRecord], val_all: list[ImageRecord],
           *, val_fraction: float, seed: int, dedup: str, duplicates: DuplicateGroups | None, val_groups: str,
           appearance, test_fraction: float | None = None) -> SplitRecords:
    explicit_val = val_all
    if not train_all:
        raise ValueError(f"{index.root}: the training split has no readable images")
    if not test and test_fraction is None:
        raise ValueError(f"{index.root}: the test split has no readable images")
    if dedup != "none" and duplicates is None:
        raise ValueError(f"dedup={dedup!r} needs the dataset audit; use dedup=none")
    if val_groups not in VAL_GROUPS:
        raise ValueError(f"unknown val_groups {val_groups!r}; valid: {', '.join(VAL_GROUPS)}")
    if val_groups == "cluster" and (dedup == "group_split" or explicit_val):
        where = "with dedup=group_split" if dedup == "group_split" else "to a dataset with its own validation folder"
        raise ValueError(f"{index.root}: val_groups=cluster draws validation from the training split; it does not "
                         f"apply {where}; set val_groups: none (CLI: --set val_groups=none)")
    if val_groups == "cluster" and appearance is None:
        raise ValueError("val_groups=cluster needs the images' appearance descriptors; use val_groups=none")
    if dedup == "group_split":
        return _group_split(train_all + val_all, test, duplicates, val_fraction=val_fraction, seed=seed,
                            test_fraction=test_fraction)
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
                 val_fraction: float, seed: int, test_fraction: float | None = None) -> SplitRecords:
    """Pool every image and draw test (about its former share, or `test_fraction` of a flat dataset) and
    then val (val_fraction of the rest) by groups of exact and near duplicates, stratified by class: no
    group straddles two splits."""
    pool = development + test
    if any(r.label is None for r in pool):
        raise ValueError("dedup=group_split re-splits labelled images only; some split folder holds images "
                         "without class folders: use dedup=drop_test or none")
    share = len(test) / len(pool) if test_fraction is None else test_fraction
    rest, new_test = group_split(pool, duplicates, fraction=share, seed=seed)
    train, val = group_split(rest, duplicates, fraction=val_fraction, seed=seed)
    log.info("dedup=group_split: %d train, %d val, %d test images, re-split by duplicate groups (the test "
             "split is no longer the dataset's own)", len(train), len(val), len(new_test))
    return SplitRecords(train, val, new_test)
