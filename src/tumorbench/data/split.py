"""The validation split: stratified, taken from the training split only, fixed by the seed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from tumorbench._io import atomic_write
from tumorbench.data.folder import ImageRecord


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
    train, val = train_test_split(ordered, test_size=n_val, stratify=labels, random_state=seed)
    return sorted(train, key=lambda r: r.path), sorted(val, key=lambda r: r.path)


def write_split_list(path: str | os.PathLike, records: Sequence[ImageRecord]) -> Path:
    """Save a split as a CSV file list (image, label) in the run folder."""
    frame = pd.DataFrame({"image": [r.path for r in records], "label": [r.label or "" for r in records]})
    return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def read_split_list(path: str | os.PathLike) -> list[ImageRecord]:
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    return [ImageRecord(img, lab or None) for img, lab in zip(frame["image"], frame["label"])]
