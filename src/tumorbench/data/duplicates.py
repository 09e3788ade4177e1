"""Groups of duplicate images, and the splits that respect them.

The audit finds the copies (identical bytes or pixels, near-identical hashes); this module only uses
them: it leaves duplicated test images out, moves validation copies of training images to training,
and splits by groups so that no group straddles two splits. It knows nothing of audit.json: build a
`DuplicateGroups` with `tumorbench.audit.duplicate_groups(audit)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from tumorbench.data.folder import ImageRecord

R = TypeVar("R", ImageRecord, str)


def _path(record: ImageRecord | str) -> str:
    return record if isinstance(record, str) else record.path


@dataclass(frozen=True)
class DuplicateGroups:
    """Which images copy which, by path relative to the dataset root.

    `links` holds each image's direct duplicates with their kind ('exact' or 'near'); `groups` the
    connected groups (images linked through any chain of duplicate pairs, in any split)."""

    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    groups: Sequence[Sequence[str]] = ()

    def duplicated(self, images: Iterable[ImageRecord | str],
                   reference: Iterable[ImageRecord | str]) -> dict[str, str]:
        """The images of `images` with an exact or near duplicate among `reference`, each with 'exact'
        (an exact duplicate there) or 'near' (only near ones)."""
        ref = {_path(r) for r in reference}
        out: dict[str, str] = {}
        for record in images:
            path = _path(record)
            kinds = {kind for other, kind in self.links.get(path, {}).items() if other in ref and other != path}
            if kinds:
                out[path] = "exact" if "exact" in kinds else "near"
        return out

    def copy_labels(self, images: Iterable[ImageRecord | str],
                    reference: Iterable[ImageRecord]) -> dict[str, frozenset[str]]:
        """The labels of each image's exact or near duplicates among `reference` (labelled records);
        images with no duplicate there are left out. A test image whose copies are all labelled
        otherwise is one the dataset contradicts: a model that recalls the copy is scored wrong on it."""
        labels = {r.path: r.label for r in reference}
        out: dict[str, frozenset[str]] = {}
        for record in images:
            path = _path(record)
            found = {labels[other] for other in self.links.get(path, {})
                     if other in labels and other != path and labels[other] is not None}
            if found:
                out[path] = frozenset(found)
        return out

    def group_ids(self, paths: Iterable[ImageRecord | str] = ()) -> dict[str, int]:
        """Group number of every image in a group; images of `paths` in no group get one of their own.

        Pass the result to a grouped splitter (e.g. sklearn's StratifiedGroupKFold) or use `group_split`."""
        ids = {path: gid for gid, members in enumerate(self.groups) for path in members}
        next_id = len(self.groups)
        for record in paths:
            path = _path(record)
            if path not in ids:
                ids[path] = next_id
                next_id += 1
        return ids


def drop_duplicated(records: Iterable[R], reference: Iterable[ImageRecord | str],
                    groups: DuplicateGroups) -> list[R]:
    """`records` without the ones that have a duplicate in `reference` (the de-duplicated test split:
    test records against train + val)."""
    records = list(records)
    dup = groups.duplicated(records, reference)
    return [r for r in records if _path(r) not in dup]


def clean_validation(train: Sequence[R], val: Sequence[R], groups: DuplicateGroups) -> tuple[list[R], list[R], int]:
    """Move the validation images that duplicate a training image into training.

    A copy of a training image in validation rewards memorisation exactly when the best epoch is
    chosen; moved to training it costs nothing (the model sees that image anyway). Returns
    (train, val, number moved).
    """
    dup = groups.duplicated(val, train)
    moved = [r for r in val if _path(r) in dup]
    return [*train, *moved], [r for r in val if _path(r) not in dup], len(moved)


def group_split(records: Sequence[ImageRecord], groups: DuplicateGroups, *, fraction: float,
                seed: int) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Split `records` into (kept, held out) with about `fraction` held out, stratified by class, and
    every group of duplicates on one side only. Use it to carve a validation split out of training,
    or to rebuild a train/test split by groups for a clean benchmark.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    ordered = sorted(records, key=lambda r: r.path)
    if any(r.label is None for r in ordered):
        raise ValueError("group_split needs labelled records; some have no class folder")
    ids = groups.group_ids(ordered)
    group_of = np.array([ids[r.path] for r in ordered])
    labels = np.array([r.label for r in ordered])
    n_folds = max(2, round(1 / fraction))
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, held = next(folds.split(np.zeros(len(ordered)), labels, group_of))
    held_set = set(held.tolist())
    kept = [r for i, r in enumerate(ordered) if i not in held_set]
    return kept, [ordered[i] for i in sorted(held_set)]
