"""Using an audit: the de-duplicated test split, and groups of duplicates to split by."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from tumorbench.data.folder import ImageRecord

R = TypeVar("R", ImageRecord, str)


def _path(record: ImageRecord | str) -> str:
    return record if isinstance(record, str) else record.path


def duplicated_test_images(audit: dict[str, Any]) -> set[str]:
    """Test images (paths relative to the dataset root) that have an exact or near duplicate in a
    development split (train or val). The de-duplicated test split is the test split minus these."""
    return {entry["path"] for entry in audit.get("test_duplicates", [])}


def duplicate_links(audit: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each image's direct exact and near duplicates, `{path: {other path: 'exact' | 'near'}}`, read
    back from audit.json (exact groups and near pairs), so that they can be checked against any split,
    e.g. the train/val/test lists a run actually used."""
    links: dict[str, dict[str, str]] = defaultdict(dict)
    for group in audit.get("exact_duplicates", {}).get("groups", []):
        paths = [m["path"] for m in group["members"]]
        for a in paths:
            links[a].update((b, "exact") for b in paths if b != a)
    for pair in audit.get("near_duplicates", {}).get("pairs", []):
        # An exact relation found through another group wins over a near one.
        links[pair["a"]].setdefault(pair["b"], "near")
        links[pair["b"]].setdefault(pair["a"], "near")
    return links


def duplicated_images(audit: dict[str, Any], images: Iterable[ImageRecord | str],
                      reference: Iterable[ImageRecord | str]) -> dict[str, str]:
    """The images of `images` that have an exact or near duplicate among `reference`, each with
    'exact' (an exact duplicate there) or 'near' (only near ones).

        duplicated_images(audit, split_test, split_train + split_val)
        # -> {'Testing/no_tumor/image(1).jpg': 'exact', ...}
    """
    links = duplicate_links(audit)
    ref = {_path(r) for r in reference}
    out: dict[str, str] = {}
    for record in images:
        path = _path(record)
        kinds = {kind for other, kind in links.get(path, {}).items() if other in ref and other != path}
        if kinds:
            out[path] = "exact" if "exact" in kinds else "near"
    return out


def drop_duplicated_test(records: Iterable[R], audit: dict[str, Any]) -> list[R]:
    """`records` (ImageRecords or paths) without the test images that are duplicated in training.

        clean = drop_duplicated_test(index.records("test"), audit)
    """
    dup = duplicated_test_images(audit)
    return [r for r in records if _path(r) not in dup]


def clean_validation(train: Sequence[R], val: Sequence[R], audit: dict[str, Any]) -> tuple[list[R], list[R], int]:
    """Move the validation images that duplicate a training image into training.

    A copy of a training image in validation rewards memorisation exactly when the best epoch is
    chosen; moved to training it costs nothing (the model sees that image anyway). Returns
    (train, val, number moved).
    """
    dup = duplicated_images(audit, val, train)
    moved = [r for r in val if _path(r) in dup]
    return [*train, *moved], [r for r in val if _path(r) not in dup], len(moved)


def group_ids(audit: dict[str, Any], paths: Iterable[ImageRecord | str] = ()) -> dict[str, int]:
    """Group number of every image in a group of exact or near duplicates (connected through any
    chain of duplicate pairs, in any split). Images of `paths` in no group get a group of their own.

    Pass the result to a grouped splitter (e.g. sklearn's StratifiedGroupKFold) or to `group_split`
    so that no group straddles two splits.
    """
    ids: dict[str, int] = {}
    for gid, members in enumerate(audit.get("groups", [])):
        for path in members:
            ids[path] = gid
    next_id = len(audit.get("groups", []))
    for record in paths:
        path = _path(record)
        if path not in ids:
            ids[path] = next_id
            next_id += 1
    return ids


def group_split(records: Sequence[ImageRecord], audit: dict[str, Any], *, fraction: float,
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
    ids = group_ids(audit, ordered)
    groups = np.array([ids[r.path] for r in ordered])
    labels = np.array([r.label for r in ordered])
    n_folds = max(2, round(1 / fraction))
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, held = next(folds.split(np.zeros(len(ordered)), labels, groups))
    held_set = set(held.tolist())
    kept = [r for i, r in enumerate(ordered) if i not in held_set]
    return kept, [ordered[i] for i in sorted(held_set)]
