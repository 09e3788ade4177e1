"""Reading an image-folder dataset: `<root>/<split>/<class>/<image>`.

Split folders may be named Training/Testing, train/val/test, and so on, in any case. Class folders
from the public layouts (`glioma_tumor`, `notumor`, ...) map onto CLASS_NAMES. A split folder that
holds images directly (no class folders) is read with unknown labels, for prediction only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tumorbench.classes import CLASS_NAMES, accepted_names, canonical_class
from tumorbench.data.images import is_image_file

SPLIT_ALIASES: dict[str, str] = {
    "training": "train", "train": "train",
    "validation": "val", "valid": "val", "val": "val",
    "testing": "test", "test": "test",
}
SPLITS = ("train", "val", "test")

# Folders that archive tools and operating systems add; never data.
_IGNORED_DIRS = {"__macosx", ".ipynb_checkpoints", "@eadir"}


class DatasetLayoutError(ValueError):
    """The folder does not have the `<root>/<split>/<class>/<image>` layout."""


@dataclass(frozen=True)
class ImageRecord:
    path: str  # relative to the dataset root, POSIX separators
    label: str | None  # canonical class name, None when unknown


@dataclass
class DatasetIndex:
    """The files of a dataset folder, by canonical split name."""

    root: Path
    splits: dict[str, list[ImageRecord]] = field(default_factory=dict)
    split_dirs: dict[str, str] = field(default_factory=dict)  # canonical split -> folder name

    def records(self, split: str) -> list[ImageRecord]:
        split = resolve_split_name(split)
        if split not in self.splits:
            found = ", ".join(self.split_dirs.values()) or "none"
            raise DatasetLayoutError(
                f"{self.root}: no {split!r} split; split folders found: {found}"
            )
        return self.splits[split]

    def class_counts(self, split: str) -> dict[str, int]:
        counts = {c: 0 for c in CLASS_NAMES}
        for rec in self.records(split):
            if rec.label is not None:
                counts[rec.label] += 1
        return counts


def resolve_split_name(name: str) -> str:
    """Canonical split ('train', 'val', 'test') for a folder or CLI name, with a clear error."""
    key = name.strip().lower()
    if key in SPLIT_ALIASES:
        return SPLIT_ALIASES[key]
    raise ValueError(
        f"unknown split {name!r}; accepted names (any case): {', '.join(sorted(SPLIT_ALIASES))}"
    )


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(
        p for p in path.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name.lower() not in _IGNORED_DIRS
    )


def _images_below(folder: Path, root: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d.lower() not in _IGNORED_DIRS)
        for name in sorted(filenames):
            if is_image_file(name):
                found.append(Path(dirpath, name).relative_to(root).as_posix())
    return found


def scan_dataset(root: str | os.PathLike) -> DatasetIndex:
    """Index a dataset folder. Raises DatasetLayoutError naming the folder and the fix."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset folder not found")
    index = DatasetIndex(root=root)
    unknown_dirs = []
    for split_dir in _visible_dirs(root):
        key = split_dir.name.lower()
        if key not in SPLIT_ALIASES:
            unknown_dirs.append(split_dir.name)
            continue
        split = SPLIT_ALIASES[key]
        if split in index.splits:
            raise DatasetLayoutError(
                f"{root}: two folders for the {split!r} split "
                f"({index.split_dirs[split]!r} and {split_dir.name!r}); keep one"
            )
        index.split_dirs[split] = split_dir.name
        index.splits[split] = _scan_split(split_dir, root)
    if not index.splits:
        hint = ""
        if any(canonical_class(d) for d in unknown_dirs):
            hint = " (the class folders must sit inside split folders such as Training/ and Testing/)"
        raise DatasetLayoutError(
            f"{root}: no split folders found{hint}; expected <root>/<split>/<class>/<image> with "
            f"split folders named {', '.join(sorted(SPLIT_ALIASES))} (any case); "
            f"found: {', '.join(unknown_dirs) or 'nothing'}"
        )
    return index


def _scan_split(split_dir: Path, root: Path) -> list[ImageRecord]:
    class_dirs = _visible_dirs(split_dir)
    loose = [n for n in sorted(os.listdir(split_dir)) if is_image_file(n)]
    if not class_dirs:
        # Unlabelled images straight in the split folder: usable for prediction, labels unknown.
        return [ImageRecord((split_dir / n).relative_to(root).as_posix(), None) for n in loose]
    unknown = [d.name for d in class_dirs if canonical_class(d.name) is None]
    if unknown:
        raise DatasetLayoutError(
            f"{split_dir}: unknown class folder(s) {unknown}; found {[d.name for d in class_dirs]}; "
            f"accepted class folder names: {', '.join(accepted_names())} (any case; spaces, '-' and "
            "'_' ignored). Rename or move the folder."
        )
    seen: dict[str, str] = {}
    records: list[ImageRecord] = []
    for class_dir in class_dirs:
        label = canonical_class(class_dir.name)
        assert label is not None
        if label in seen:
            raise DatasetLayoutError(
                f"{split_dir}: folders {seen[label]!r} and {class_dir.name!r} both mean class "
                f"{label!r}; merge them"
            )
        seen[label] = class_dir.name
        records.extend(ImageRecord(rel, label) for rel in _images_below(class_dir, root))
    return records
