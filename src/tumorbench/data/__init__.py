"""Datasets: folders of images, decoding, the preprocessing spec, splits, balancing, augmentation and
the embedded synthetic dataset."""

from __future__ import annotations

from tumorbench._lazy import lazy_exports

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
    "ImageArrays": "arrays",
    "DecodedImages": "arrays",
    "ArrayCache": "arrays",
    "DuplicateGroups": "duplicates",
    "SplitRecords": "split",
    "split_dataset": "split",
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

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
