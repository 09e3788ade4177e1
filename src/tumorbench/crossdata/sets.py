"""An external test set: a dataset folder, the split of it that is scored, its classes and class map.

Every problem that keeps an external dataset from being scored is an ExternalUnusable whose message is
one line naming the folder and the fix; the run records it and goes on (`score.py`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tumorbench.classes import is_tumor, order_classes
from tumorbench.config import ExternalConfig
from tumorbench.data.folder import DatasetIndex, DatasetLayoutError, ImageRecord, scan_dataset


class ExternalUnusable(ValueError):
    """An external dataset that cannot be scored (missing, empty, no class in common with the models)."""


@dataclass
class ExternalSet:
    name: str  # file-safe name: external/<name>/, predictions_external_<name>.csv
    label: str  # display name
    root: Path
    split: str  # the split scored: "test", or "all" for a dataset without split folders
    records: list[ImageRecord] = field(default_factory=list)
    class_map: dict[str, str] | None = None
    index: DatasetIndex | None = field(default=None, repr=False)  # the scanned folder (class map applied)

    @property
    def classes(self) -> tuple[str, ...]:
        return order_classes({r.label for r in self.records if r.label})

    def identity(self) -> dict:
        """What dataset.json records of the dataset itself."""
        return {"name": self.name, "label": self.label, "root": str(self.root.resolve()), "split": self.split,
                "classes": list(self.classes), "n_images": len(self.records),
                "class_counts": dict(Counter(r.label or "" for r in self.records)),
                "class_map": self.class_map}


def as_external_config(entry) -> ExternalConfig:
    """A path, a mapping {path, name, class_map} or an ExternalConfig, as an ExternalConfig."""
    from tumorbench.config import clean_external

    if isinstance(entry, ExternalConfig):
        return entry
    return ExternalConfig(**clean_external(entry, "external"))


def open_external(entry, *, name: str, model_classes) -> ExternalSet:
    """Scan an external dataset and check it can be scored by models of `model_classes`.

    The test split is scored, or every image of a dataset without split folders (its only split, "all");
    a dataset with split folders but no test split is refused, as its training images may be what a
    model of its own was fitted on."""
    config = as_external_config(entry)
    root = Path(config.path).expanduser()
    if not root.is_dir():
        raise ExternalUnusable(f"{root}: external dataset folder not found; fix its path (--external, the "
                               "config's external:, or --data)")
    try:
        index = scan_dataset(root, class_map=config.class_map)
    except DatasetLayoutError as exc:
        raise ExternalUnusable(f"{exc} (external dataset)") from None
    split = "test" if "test" in index.splits else "all" if "all" in index.splits else None
    if split is None:
        raise ExternalUnusable(f"{root}: no test split (split folders: {', '.join(index.split_dirs.values())}); "
                               "an external dataset is scored on its test split, or on every image when it has "
                               "no split folders: add a Testing/ folder or give the folder of one split")
    records = index.splits[split]
    where = f"{root}/{index.split_dirs.get(split, '')}".rstrip("/")
    if not records:
        raise ExternalUnusable(f"{where}: the external {split} split has no images; add images or remove this "
                               "dataset from --external")
    if not any(r.label for r in records):
        raise ExternalUnusable(f"{where}: no image has a class (no class folders), so nothing can be scored; put "
                               "the images into one folder per class")
    found = ExternalSet(name, config.label, root, split, records, config.class_map, index)
    check_classes(found, model_classes)
    return found


def binary_view_defined(classes) -> bool:
    """Tumour vs no tumour is defined when every class says which it is, and both sides occur."""
    sides = {is_tumor(c) for c in classes}
    return None not in sides and sides == {True, False}


def check_classes(external: ExternalSet, model_classes) -> None:
    """The models can score the dataset on the classes they share with it, or on the binary view."""
    shared = set(external.classes) & set(model_classes)
    if shared or (binary_view_defined(external.classes) and binary_view_defined(model_classes)):
        return
    raise ExternalUnusable(
        f"{external.root}: its classes ({', '.join(external.classes)}) share none with the models' "
        f"({', '.join(model_classes)}) and give no tumour / no-tumour view; map its folders onto the models' "
        "classes with a class map (config: external: [{path: ..., class_map: {yes: tumor, no: no_tumor}}], "
        "CLI: --external-class-map NAME:yes=tumor,no=no_tumor)")
