"""Reading an image-folder dataset: `<root>/<split>/<class>/<image>`, or `<root>/<class>/<image>`.

Split folders may be named Training/Testing, train/val/test, and so on, in any case. Class folders
from the public layouts (`glioma_tumor`, `notumor`, ...) map onto the canonical names, other names are
kept (`yes`, `no`), and a class map renames folders (`{"yes": "tumor"}`). A split folder that holds
images directly (no class folders) is read with unknown labels, for prediction only. A dataset with
class folders and no split folders (figshare, the yes/no sets) is "flat": its one split is named
FLAT_SPLIT ("all"), and `tumorbench.data.split.split_dataset` draws its test split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tumorbench.classes import check_class_name, map_class, order_classes, parse_class_map
from tumorbench.data.images import is_image_file

SPLIT_ALIASES: dict[str, str] = {
    "training": "train", "train": "train",
    "validation": "val", "valid": "val", "val": "val",
    "testing": "test", "test": "test",
}
SPLITS = ("train", "val", "test")
FLAT_SPLIT = "all"  # the one split of a dataset without split folders (one folder per class)
ALL_SPLITS = (*SPLITS, FLAT_SPLIT)

# Folders that archive tools and operating systems add; never data.
_IGNORED_DIRS = {"__macosx", ".ipynb_checkpoints", "@eadir"}


class DatasetLayoutError(ValueError):
    """The folder does not have the `<root>/<split>/<class>/<image>` layout."""


@dataclass(frozen=True)
class ImageRecord:
    path: str  # relative to the dataset root, POSIX separators
    label: str | None  # class name (canonical spelling, or the folder's / class map's), None when unknown


@dataclass
class DatasetIndex:
    """The files of a dataset folder, by canonical split name (FLAT_SPLIT only for a flat dataset)."""

    root: Path
    splits: dict[str, list[ImageRecord]] = field(default_factory=dict)
    split_dirs: dict[str, str] = field(default_factory=dict)  # canonical split -> folder name
    class_map: dict[str, str] = field(default_factory=dict)  # the class map the folders were read with

    @property
    def flat(self) -> bool:
        """One folder per class and no split folders: the test split is drawn (`split_dataset`)."""
        return list(self.splits) == [FLAT_SPLIT]

    @property
    def classes(self) -> tuple[str, ...]:
        """Every class with an image in any split, in the one order (`order_classes`)."""
        return order_classes({r.label for recs in self.splits.values() for r in recs if r.label is not None})

    def records(self, split: str) -> list[ImageRecord]:
        split = FLAT_SPLIT if split == FLAT_SPLIT else resolve_split_name(split)
        if split not in self.splits:
            found = ", ".join(self.split_dirs.values()) or "none"
            hint = (f" (a dataset without split folders: its images are the {FLAT_SPLIT!r} split)"
                    if self.flat else "")
            raise DatasetLayoutError(
                f"{self.root}: no {split!r} split; split folders found: {found}{hint}"
            )
        return self.splits[split]

    def class_counts(self, split: str) -> dict[str, int]:
        """Images per class of the dataset (every split's classes, zero where `split` has none)."""
        counts = {c: 0 for c in self.classes}
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


def scan_dataset(root: str | os.PathLike, *, class_map=None) -> DatasetIndex:
    """Index a dataset folder. Raises DatasetLayoutError naming the folder and the fix.

    `class_map` (folder name -> class, or "yes=tumor,no=no_tumor") renames class folders; other folders
    keep their canonical name (`glioma_tumor` -> glioma) or their own (`yes`)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset folder not found")
    try:
        mapping = parse_class_map(class_map, where="class_map")
    except ValueError as exc:
        raise DatasetLayoutError(str(exc)) from None
    index = DatasetIndex(root=root, class_map=mapping)
    unknown_dirs = []
    for split_dir in _visible_dirs(root):
        key = split_dir.name.lower()
        if key not in SPLIT_ALIASES:
            unknown_dirs.append(split_dir)
            continue
        split = SPLIT_ALIASES[key]
        if split in index.splits:
            raise DatasetLayoutError(
                f"{root}: two folders for the {split!r} split "
                f"({index.split_dirs[split]!r} and {split_dir.name!r}); keep one"
            )
        index.split_dirs[split] = split_dir.name
        index.splits[split] = _scan_split(split_dir, root, mapping)
    if not index.splits:
        flat = [d for d in unknown_dirs if _images_below(d, root)]
        if not flat:
            raise DatasetLayoutError(
                f"{root}: no images found; expected <root>/<split>/<class>/<image> with split folders named "
                f"{', '.join(sorted(SPLIT_ALIASES))} (any case), or <root>/<class>/<image>; "
                f"found: {', '.join(d.name for d in unknown_dirs) or 'nothing'}"
            )
        # One folder per class, no split folders: the whole dataset is one split, its test split drawn later.
        index.split_dirs[FLAT_SPLIT] = "."
        index.splits[FLAT_SPLIT] = _scan_split(root, root, mapping)
    _check_class_map_used(index, mapping)
    return index


def _class_of(folder: str, mapping: dict[str, str]) -> str:
    """The class of a class folder: the class map's (exact name, else any case), else `map_class`."""
    if folder in mapping:
        return mapping[folder]
    folded = [v for k, v in mapping.items() if k.lower() == folder.lower()]
    return folded[0] if len(folded) == 1 else map_class(folder)


def _class_folders(index: DatasetIndex) -> list[str]:
    """Every class folder name of the dataset, sorted."""
    names = set()
    for folder in index.split_dirs.values():
        split_dir = index.root if folder == "." else index.root / folder
        names.update(d.name for d in _visible_dirs(split_dir))
    return sorted(names)


def _check_class_map_used(index: DatasetIndex, mapping: dict[str, str]) -> None:
    """A class map entry that names no folder is a typo: say which, and which folders there are."""
    found = _class_folders(index)
    lowered = {f.lower() for f in found}
    unused = [k for k in mapping if k not in found and k.lower() not in lowered]
    if unused:
        raise DatasetLayoutError(
            f"{index.root}: class map names folder(s) {unused} that the dataset does not have; class folders "
            f"found: {', '.join(found) or 'none'}. Fix the class map (--class-map / class_map:)"
        )


def _scan_split(split_dir: Path, root: Path, mapping: dict[str, str]) -> list[ImageRecord]:
    class_dirs = _visible_dirs(split_dir)
    loose = [n for n in sorted(os.listdir(split_dir)) if is_image_file(n)]
    if not class_dirs:
        # Unlabelled images straight in the split folder: usable for prediction, labels unknown.
        return [ImageRecord((split_dir / n).relative_to(root).as_posix(), None) for n in loose]
    seen: dict[str, str] = {}
    records: list[ImageRecord] = []
    for class_dir in class_dirs:
        label = _class_of(class_dir.name, mapping)
        try:
            check_class_name(label, where=f"{split_dir}: folder {class_dir.name!r}", folder=class_dir.name)
        except ValueError as exc:
            raise DatasetLayoutError(str(exc)) from None
        if label in seen:
            mapped = {k.lower() for k in mapping} & {seen[label].lower(), class_dir.name.lower()}
            fix = "fix the class map (--class-map / class_map:) or merge the folders" if mapped else "merge them"
            raise DatasetLayoutError(
                f"{split_dir}: folders {seen[label]!r} and {class_dir.name!r} both mean class "
                f"{label!r}; {fix}"
            )
        seen[label] = class_dir.name
        records.extend(ImageRecord(rel, label) for rel in _images_below(class_dir, root))
    return records
