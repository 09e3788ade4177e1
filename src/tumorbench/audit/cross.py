"""`cross_audit`: exact and near copies between two datasets, with the within-dataset audit's machinery.

Public brain-MRI collections republish each other, so an "external" test set often holds copies of the
images a model was trained on. For every image of dataset B this finds whether dataset A holds an exact
copy (identical bytes or decoded pixels) or a near copy (the crop-tolerant pHash within the threshold),
which A images, A's split and label, and whether the two datasets file the image under different
classes. Features come from the same per-file cache as `audit_dataset`, so auditing a dataset and then
comparing it with others decodes every file once.

    cross = cross_audit("data/sartaj", "data/figshare")
    cross["per_class"]["glioma"]  # -> {'n': 1426, 'exact': 0, 'near': 987, 'none': 439, ...}
    copies_in(cross, a_paths=train + val, b_paths=scored)  # -> {'glioma/12.jpg': 'near', ...}
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import tumorbench
from tumorbench._io import read_json
from tumorbench.audit._cache import FeatureCache, default_cache_dir
from tumorbench.audit._features import CROPS, HASH_BITS, HASH_SIZE
from tumorbench.audit._near import hashes_to_words, near_pairs
from tumorbench.audit._relations import EXACT_KINDS, KINDS, _image_kind
from tumorbench.audit.core import NEAR_THRESHOLD, _features_of, check_threshold
from tumorbench.classes import TUMOR, is_tumor
from tumorbench.data.folder import SPLITS, DatasetIndex, scan_dataset
from tumorbench.runfolder import CROSS_AUDIT_FILE

CROSS_AUDIT_VERSION = 1

_REQUIRED_KEYS = ("a", "b", "near_duplicates", "images", "totals", "per_class", "per_a_split", "label_conflicts")


def label_relation(label_a: str | None, label_b: str | None) -> Literal["agree", "conflict", "unknown"]:
    """Whether two datasets' labels of one image agree. The generic `tumor` class of a binary dataset
    agrees with every tumour type; two names the binary view cannot place (an unmapped `yes` against
    `glioma`) are `unknown`, not a conflict.

    >>> label_relation("glioma", "glioma"), label_relation("glioma", "tumor"), label_relation("glioma", "pituitary")
    ('agree', 'agree', 'conflict')
    >>> label_relation("no_tumor", "tumor"), label_relation("glioma", "yes")
    ('conflict', 'unknown')
    """
    if label_a is None or label_b is None:
        return "unknown"
    if label_a == label_b:
        return "agree"
    tumour_a, tumour_b = is_tumor(label_a), is_tumor(label_b)
    if tumour_a is None or tumour_b is None:
        return "unknown"
    if tumour_a != tumour_b:
        return "conflict"
    return "agree" if TUMOR in (label_a, label_b) else "conflict"


def _split_order(index: DatasetIndex) -> list[str]:
    """The index's splits, train/val/test first and any other (a flat dataset's `all`) after."""
    return sorted(index.splits, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))


def _items(index: DatasetIndex, paths: Iterable[str] | None, which: str) -> list[dict[str, Any]]:
    items = [{"path": rec.path, "split": split, "label": rec.label}
             for split in _split_order(index) for rec in index.splits[split]]
    if paths is None:
        return items
    wanted = {Path(p).as_posix() for p in paths}
    found = [it for it in items if it["path"] in wanted]
    missing = sorted(wanted - {it["path"] for it in found})
    if missing:
        raise ValueError(f"{index.root}: {len(missing)} of the {len(wanted)} {which} path(s) given are not images "
                         f"of this dataset (first: {missing[0]!r}); give paths relative to the dataset folder, "
                         "as in the run's splits/*.csv")
    return found


def _index(data: str | os.PathLike | DatasetIndex, which: str) -> DatasetIndex:
    index = data if isinstance(data, DatasetIndex) else scan_dataset(data)
    if not any(index.splits.values()):
        raise ValueError(f"{index.root}: dataset {which} has no images; point --against at a folder with one "
                         "folder of images per class (optionally inside split folders)")
    return index


def _counts(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = defaultdict(Counter)
    for it in items:
        out[it["split"]][it["label"] if it["label"] is not None else "unlabelled"] += 1
    return {split: dict(sorted(c.items())) for split, c in out.items()}


def cross_audit(a: str | os.PathLike | DatasetIndex, b: str | os.PathLike | DatasetIndex, *,
                a_paths: Iterable[str] | None = None, b_paths: Iterable[str] | None = None,
                cache_dir: str | os.PathLike | Literal[False] | None = None, near_threshold: int | None = None,
                workers: int | None = None) -> dict[str, Any]:
    """The copies in dataset `a` of every image of dataset `b`; returns the content of `cross_audit.json`.

    `a`, `b`: dataset folders or scanned `DatasetIndex`es (split folders or one folder per class).
    `a_paths`, `b_paths`: only these images (paths relative to each root), e.g. a run's training and
    validation images of `a` and the scored images of `b`. `cache_dir`, `near_threshold`, `workers` as
    in `audit_dataset` (the same feature cache and the same default threshold).

    Per image of `b` (`images`): `kind` ('exact', 'near' or None), its `matches` in `a` (path, split,
    label, kind 'bytes'/'pixels'/'near', distance), `labels` ('agree', 'conflict' or 'unknown'; None
    without a copy) and `error` for a file that could not be read. `totals`, `per_class` (by b's
    label) and `per_a_split` count them.
    """
    started = time.perf_counter()
    threshold = check_threshold(near_threshold)
    workers = workers or min(4, os.cpu_count() or 1)
    index_a, index_b = _index(a, "A"), _index(b, "B")
    items_a, items_b = _items(index_a, a_paths, "A"), _items(index_b, b_paths, "B")
    feats_a = _cached_features(index_a.root, items_a, cache_dir, workers)
    feats_b = _cached_features(index_b.root, items_b, cache_dir, workers)
    t_features = time.perf_counter()

    matches, n_candidates = _matches(feats_a, feats_b, threshold)
    images = [_image_entry(it, f, matches[k], items_a) for k, (it, f) in enumerate(zip(items_b, feats_b))]
    cross: dict[str, Any] = {
        "cross_audit_version": CROSS_AUDIT_VERSION,
        "tumorbench_version": getattr(tumorbench, "__version__", None),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "a": _side(index_a, items_a, feats_a, a_paths is not None),
        "b": _side(index_b, items_b, feats_b, b_paths is not None),
        "near_duplicates": {
            "method": (f"pHash ({HASH_SIZE}x{HASH_SIZE} = {HASH_BITS} bits, imagehash) of the grayscale image "
                       f"and of {len(CROPS) - 1} slight crops, as in the within-dataset audit; an image of B "
                       "and one of A are near copies when one's whole-image hash is within the threshold of "
                       "any crop hash of the other; exact multi-index hashing search"),
            "threshold": threshold,
            "hash_bits": HASH_BITS,
            "candidates_checked": n_candidates,
        },
        "images": images,
        **_tables(images),
        "label_conflicts": [
            {"b": e["path"], "label_b": e["label"], "split_b": e["split"], "a": m["path"], "label_a": m["label"],
             "split_a": m["split"], "kind": m["kind"], "distance": m["distance"]}
            for e in images if e["labels"] == "conflict"
            for m in e["matches"] if label_relation(m["label"], e["label"]) == "conflict"],
    }
    cross["timing_s"] = {"features": round(t_features - started, 2),
                         "copies": round(time.perf_counter() - t_features, 2),
                         "total": round(time.perf_counter() - started, 2)}
    return cross


def _cached_features(root: Path, items: list[dict[str, Any]], cache_dir: Any, workers: int) -> list[dict[str, Any]]:
    cache = None
    if cache_dir is not False:
        cache = FeatureCache(default_cache_dir() if cache_dir is None else Path(cache_dir), root)
    feats = _features_of(root, [it["path"] for it in items], cache, workers)
    if cache is not None:
        cache.save()
    return feats


def _side(index: DatasetIndex, items: list[dict[str, Any]], feats: list[dict[str, Any]],
          subset: bool) -> dict[str, Any]:
    return {
        "root": str(Path(index.root).resolve()),
        "split_dirs": dict(index.split_dirs),
        "subset": subset,  # only some of the dataset's images were compared (a run's splits)
        "n_images": len(items),
        "class_counts": _counts(items),
        "unreadable": [{"path": it["path"], "split": it["split"], "label": it["label"], "reason": f["error"]}
                       for it, f in zip(items, feats) if f["error"] is not None],
    }


def _matches(feats_a: list[dict[str, Any]], feats_b: list[dict[str, Any]],
             threshold: int) -> tuple[list[dict[int, tuple[str, int]]], int]:
    """For each image of B, its related images of A: index in A -> (kind, distance), the strongest kind."""
    out: list[dict[int, tuple[str, int]]] = [{} for _ in feats_b]

    def relate(k: int, i: int, kind: str, dist: int) -> None:
        old = out[k].get(i)
        if old is None or KINDS.index(kind) < KINDS.index(old[0]):
            out[k][i] = (kind, dist)

    for kind, key in (("bytes", "bytes_hash"), ("pixels", "pixel_hash")):
        in_a: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(feats_a):
            if f[key] is not None:
                in_a[f[key]].append(i)
        for k, f in enumerate(feats_b):
            for i in in_a.get(f[key], []) if f[key] is not None else []:
                relate(k, i, kind, 0)

    # One stacked search, A's hashes first: `between` keeps the pairs across the two datasets only.
    hashed_a = [i for i, f in enumerate(feats_a) if f["phash"] is not None]
    hashed_b = [k for k, f in enumerate(feats_b) if f["phash"] is not None]
    if not hashed_a or not hashed_b:
        return out, 0
    words = hashes_to_words([feats_a[i]["phash"] for i in hashed_a] + [feats_b[k]["phash"] for k in hashed_b])
    ri, rj, rd, n_candidates = near_pairs(words, threshold, between=len(hashed_a))
    for i, j, d in zip(ri, rj, rd):
        relate(hashed_b[int(j) - len(hashed_a)], hashed_a[int(i)], "near", int(d))
    return out, int(n_candidates)


def _image_entry(item: dict[str, Any], feats: dict[str, Any], related: dict[int, tuple[str, int]],
                 items_a: list[dict[str, Any]]) -> dict[str, Any]:
    order = sorted(related, key=lambda i: (KINDS.index(related[i][0]), related[i][1], items_a[i]["path"]))
    found = [{"path": items_a[i]["path"], "split": items_a[i]["split"], "label": items_a[i]["label"],
              "kind": related[i][0], "distance": related[i][1]} for i in order]
    relations = {label_relation(m["label"], item["label"]) for m in found}
    labels = None
    if found:
        labels = "conflict" if "conflict" in relations else "unknown" if "unknown" in relations else "agree"
    return {"path": item["path"], "split": item["split"], "label": item["label"],
            "kind": _image_kind(related, list(related)), "labels": labels, "matches": found,
            "error": feats["error"]}


def _tables(images: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of B's images: in all, per class (with the A splits and A labels of their copies) and per
    A split (an image with copies in two A splits counts in both)."""

    def cell() -> dict[str, Any]:
        return {"n": 0, "exact": 0, "near": 0, "none": 0, "unreadable": 0, "label_conflicts": 0}

    totals = cell()
    per_class: dict[str, dict[str, Any]] = {}
    per_a_split: dict[str, Counter] = defaultdict(Counter)
    for e in images:
        label = e["label"] if e["label"] is not None else "unlabelled"
        row = per_class.setdefault(label, {**cell(), "by_a_split": defaultdict(Counter), "a_labels": Counter()})
        for target in (totals, row):
            target["n"] += 1
            target["unreadable" if e["error"] else e["kind"] or "none"] += 1
            target["label_conflicts"] += e["labels"] == "conflict"
        by_split: dict[str, list[str]] = defaultdict(list)
        for m in e["matches"]:
            by_split[m["split"]].append(m["kind"])
        for split, kinds in by_split.items():
            kind = "exact" if set(kinds) & set(EXACT_KINDS) else "near"
            per_a_split[split][kind] += 1
            row["by_a_split"][split][kind] += 1
        for a_label in {m["label"] if m["label"] is not None else "unlabelled" for m in e["matches"]}:
            row["a_labels"][a_label] += 1

    def split_key(s: str) -> tuple[int, str]:
        return (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)

    def kinds(c: Counter) -> dict[str, int]:
        return {"exact": c["exact"], "near": c["near"], "any": c["exact"] + c["near"]}

    for row in per_class.values():
        row["by_a_split"] = {s: kinds(row["by_a_split"][s]) for s in sorted(row["by_a_split"], key=split_key)}
        row["a_labels"] = dict(row["a_labels"].most_common())
    return {"totals": totals, "per_class": dict(sorted(per_class.items())),
            "per_a_split": {s: kinds(per_a_split[s]) for s in sorted(per_a_split, key=split_key)}}


def copies_in(cross: dict[str, Any], *, a_paths: Iterable[str] | None = None, b_paths: Iterable[str] | None = None,
              kinds: Iterable[str] = ("exact", "near")) -> dict[str, str]:
    """The images of B (of `b_paths`, default all) that copy an image of A (of `a_paths`, default all),
    as {B path: 'exact' or 'near'}; 'exact' when any of its copies among `a_paths` is exact. Paths are
    relative to each dataset's root. `kinds=("exact",)` keeps exact copies only.

        copies_in(cross, a_paths=[r.path for r in split.train + split.val], b_paths=scored)
    """
    keep_a = None if a_paths is None else {Path(p).as_posix() for p in a_paths}
    keep_b = None if b_paths is None else {Path(p).as_posix() for p in b_paths}
    wanted = set(kinds)
    out: dict[str, str] = {}
    for e in cross["images"]:
        if keep_b is not None and e["path"] not in keep_b:
            continue
        found = {m["kind"] for m in e["matches"] if keep_a is None or m["path"] in keep_a}
        kind = "exact" if found & set(EXACT_KINDS) else "near" if found else None
        if kind in wanted:
            out[e["path"]] = kind
    return out


def external_copies(a: str | os.PathLike | DatasetIndex, b: str | os.PathLike | DatasetIndex, *,
                    dev_paths: Iterable[str], scored_paths: Iterable[str] | None = None,
                    **audit_options: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """For a run with an external dataset: the external images (`scored_paths` of `b`, default all) that
    copy a training or validation image of `a` (`dev_paths`, relative to a's root), as {B path: kind},
    and the cross audit they come from (to write as `cross_audit.json` and show in the report).
    `audit_options` go to `cross_audit` (cache_dir, near_threshold, workers).

        flagged, cross = external_copies(index_a, index_b, dev_paths=train + val, scored_paths=scored)
        unseen = [p for p in scored if p not in flagged]  # the external test set without copies
    """
    index_a = _index(a, "A")
    _items(index_a, dev_paths, "A")  # a development path that is not in A is an error, not silently no copy
    # All of A is compared, so the cross audit also shows copies of A's test images; only copies of
    # the development images are flagged.
    scored = None if scored_paths is None else [Path(p).as_posix() for p in scored_paths]
    cross = cross_audit(index_a, b, b_paths=scored, **audit_options)
    return copies_in(cross, a_paths=dev_paths), cross


def load_cross_audit(path: str | os.PathLike) -> dict[str, Any]:
    """Read a cross_audit.json back, checking that it is one (the error names the file and the fix)."""
    path = Path(path)
    cross = read_json(path)
    missing = [k for k in _REQUIRED_KEYS if k not in cross] if isinstance(cross, dict) else list(_REQUIRED_KEYS)
    version = cross.get("cross_audit_version") if isinstance(cross, dict) else None
    if missing or version != CROSS_AUDIT_VERSION:
        raise ValueError(f"{path}: not a tumorbench cross-dataset audit of version {CROSS_AUDIT_VERSION} (missing "
                         f"{', '.join(missing) or 'nothing'}, cross_audit_version {version!r}); delete it, or "
                         "write a new one with `tumorbench audit A --against B --out FOLDER`")
    return cross


__all__ = ["CROSS_AUDIT_FILE", "NEAR_THRESHOLD", "copies_in", "cross_audit", "external_copies", "label_relation",
           "load_cross_audit"]
