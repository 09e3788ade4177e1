"""Datasets: folders of images, decoding, the preprocessing spec, splits, balancing, augmentation and
the embedded synthetic dataset."""

from __future__ import annotations

import importlib
from typing import Any

# Names load on first use (PEP 562): the light modules of this package (read by the CLI's --help) must
# not pull in the heavy ones.
_EXPORTS = {
    "DatasetIndex": "folder",
    "DatasetLayoutError": "folder",
    "ImageRecord": "folder",
    "scan_dataset": "folder",
    "load_images": "images",
    "load_image": "images",
    "open_image": "images",
    "max_pixels": "images",
    "set_max_pixels": "images",
    "ImageTooLargeError": "images",
    "PreprocessSpec": "preprocess",
    "imagenet_spec": "preprocess",
    "stratified_split": "split",
    "write_split_list": "split",
    "read_split_list": "split",
    "coverage_warnings": "split",
    "check_trainable": "split",
    "STRATEGIES": "balance",
    "check_strategy": "balance",
    "plan_epoch": "balance",
    "AffineAugment": "augment",
    "ensure_default_dataset": "synthetic",
    "generate_synthetic_dataset": "synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
