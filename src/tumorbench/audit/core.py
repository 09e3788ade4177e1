"""`audit_dataset`: leakage, duplicates and shortcuts of an image-folder dataset, as one JSON-able dict.

What it finds:
- exact duplicates: identical bytes, or identical pixels after decoding (a PNG re-saved with other
  metadata, a JPEG copied into a PNG), within and across splits;
- near duplicates: the same slice re-encoded, resized, cropped by a few pixels or with its contrast
  changed, found by a crop-tolerant 256-bit pHash (the `imagehash` package) under a stated Hamming
  threshold, with an exact multi-index search instead of comparing every pair;
- label conflicts: exact or near duplicates filed under two different classes;
- shortcuts: a classifier on file properties alone, cross-validated against the majority baseline.

Per-file features are cached (see `_cache.py`), so a second audit of the same folder is quick.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

import tumorbench
from tumorbench._io import read_json
from tumorbench.audit._cache import FeatureCache, default_cache_dir, file_key
from tumorbench.audit._features import CROPS, HASH_BITS, HASH_SIZE, extract_features
from tumorbench.audit._relations import (
    _cross_split,
    _groups,
    _relations,
    _test_duplicates,
    _within_split,
)
from tumorbench.audit._shortcut import shortcut_check
from tumorbench.audit._summary import summarise
from tumorbench.classes import order_classes
from tumorbench.data.folder import ALL_SPLITS as SPLITS  # a flat dataset's one split ("all") too
from tumorbench.data.folder import DatasetIndex, scan_dataset
from tumorbench.runfolder import AUDIT_FILE  # noqa: F401  (re-exported: the audit's file name)

log = logging.getLogger(__name__)

AUDIT_VERSION = 1

NEAR_THRESHOLD = 16
"""Default near-duplicate threshold: Hamming distance of at most 16 of 256 pHash bits (crop-tolerant).

Tuned in benchmarks/bench_audit.py on copies made from 300 Sartaj images: at 16 bits it finds every
JPEG q50/q90 re-encoded, x0.5 resized, 3 px cropped and contrast x1.3 copy, >= 98.7 % of x1.5 resized,
2 px cropped and gamma 0.7 copies, and 88 % of gamma 1.5 copies (20 bits: 98 %). It matches no random
pair of distinct images that is not a real copy (20,000 pairs; their distance's 0.1 % quantile is 56);
over all 5.3 M pairs of the dataset, 16 matches (3 per million pairs) have thumbnails correlating
below 0.9, and those inspected are neighbouring slices of one series (same patient and lesion)."""

_REQUIRED_KEYS = ("class_counts", "exact_duplicates", "near_duplicates", "cross_split", "label_conflicts",
                  "test_duplicates", "groups", "shortcut")


def load_audit(path: str | os.PathLike) -> dict[str, Any]:
    """Read an audit.json back, checking that it is one (the error names the file and the fix)."""
    path = Path(path)
    audit = read_json(path)
    missing = [k for k in _REQUIRED_KEYS if k not in audit] if isinstance(audit, dict) else list(_REQUIRED_KEYS)
    if missing or audit.get("audit_version") != AUDIT_VERSION:
        raise ValueError(f"{path}: not a tumorbench audit of version {AUDIT_VERSION} (missing "
                         f"{', '.join(missing) or 'nothing'}, audit_version "
                         f"{audit.get('audit_version') if isinstance(audit, dict) else None!r}); delete it, "
                         "or write a new one with `tumorbench audit DATA --out FOLDER`")
    return audit


def check_threshold(near_threshold: int | None) -> int:
    """The near-duplicate threshold to use (default NEAR_THRESHOLD), with a clear error when out of range."""
    threshold = NEAR_THRESHOLD if near_threshold is None else int(near_threshold)
    if not 0 <= threshold < HASH_BITS // 2:
        raise ValueError(f"near_threshold={near_threshold!r}: choose a Hamming distance between 0 and "
                         f"{HASH_BITS // 2 - 1} bits (of {HASH_BITS}); the default is {NEAR_THRESHOLD}")
    return threshold


def _features_of(root: Path, rels: list[str], cache: FeatureCache | None, workers: int,
                 tap: Callable[[str, Image.Image], None] | None = None) -> list[dict[str, Any]]:
    keys: list[tuple[int, int] | None] = []
    out: list[dict[str, Any] | None] = []
    todo: list[int] = []
    for i, rel in enumerate(rels):
        try:
            key = file_key(root / rel)
        except OSError as exc:  # a broken symlink or a file removed while scanning
            keys.append(None)
            out.append(_unreadable(str(exc) or type(exc).__name__))
            continue
        keys.append(key)
        cached = cache.get(rel, key) if cache is not None else None
        out.append(cached)
        if cached is None:
            todo.append(i)

    def compute(i: int) -> dict[str, Any]:
        try:
            return extract_features(root / rels[i], tap=None if tap is None else functools.partial(tap, rels[i]))
        except OSError as exc:  # unreadable file (permissions, I/O error)
            return _unreadable(str(exc) or type(exc).__name__)

    if todo:
        log.info("auditing %d image files (%d cached)", len(todo), len(rels) - len(todo))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, feats in zip(todo, pool.map(compute, todo)):
                out[i] = feats
                if cache is not None and keys[i] is not None:
                    cache.put(rels[i], keys[i], feats)
    return out  # type: ignore[return-value]


def _unreadable(reason: str) -> dict[str, Any]:
    return {"file_size": 0, "format": None, "mode": None, "width": None, "height": None,
            "bytes_hash": None, "pixel_hash": None, "phash": None, "error": reason}


def audit_dataset(root: str | os.PathLike | DatasetIndex, *,
                  cache_dir: str | os.PathLike | Literal[False] | None = None, near_threshold: int | None = None,
                  workers: int | None = None, tap: Callable[[str, Image.Image], None] | None = None,
                  class_map=None) -> dict[str, Any]:
    """Audit a `<root>/<split>/<class>/<image>` dataset; returns the content of `audit.json`.

    `cache_dir` holds the per-file feature cache (default `<tumorbench cache>/audit`; pass a folder
    of your own, or `False` for none). `near_threshold` is the largest Hamming distance (of 256 pHash
    bits) between near duplicates, default `NEAR_THRESHOLD`. `root` may be a scanned `DatasetIndex`
    (a run scans its folder once); `class_map` renames class folders (`scan_dataset`). `tap(path, image)`
    receives every image the audit decodes (files whose features come from the cache are not decoded),
    so a run can build its training arrays from the same decoding.

        audit = audit_dataset("data/sartaj")
        audit["cross_split"]["test~train"]["images"]["exact"]
    """
    started = time.perf_counter()
    threshold = check_threshold(near_threshold)
    workers = workers or min(4, os.cpu_count() or 1)
    index = root if isinstance(root, DatasetIndex) else scan_dataset(root, class_map=class_map)
    root = index.root
    items: list[dict[str, Any]] = []
    for split in SPLITS:
        for rec in index.splits.get(split, []):
            items.append({"path": rec.path, "split": split, "label": rec.label})
    cache = None
    if cache_dir is not False:
        cache = FeatureCache(default_cache_dir() if cache_dir is None else Path(cache_dir), root)
    feats = _features_of(root, [it["path"] for it in items], cache, workers, tap)
    if cache is not None:
        cache.save()
    t_features = time.perf_counter()

    relations = _relations(items, feats, threshold)
    t_near = time.perf_counter()
    groups = _groups(len(items), relations["edges"])
    audit: dict[str, Any] = {
        "audit_version": AUDIT_VERSION,
        "tumorbench_version": getattr(tumorbench, "__version__", None),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "root": str(root.resolve()),
        "split_dirs": dict(index.split_dirs),
        "classes": list(index.classes),
        "n_images": len(items),
        "class_counts": {s: index.class_counts(s) for s in SPLITS if s in index.splits},
        "properties": _properties(items, feats),
        "unreadable": [{"path": it["path"], "split": it["split"], "label": it["label"], "reason": f["error"]}
                       for it, f in zip(items, feats) if f["error"] is not None],
        "exact_duplicates": {"groups": relations["exact_groups"]},
        "near_duplicates": {
            "method": (f"pHash ({HASH_SIZE}x{HASH_SIZE} = {HASH_BITS} bits, imagehash) of the grayscale "
                       f"image and of {len(CROPS) - 1} slight crops; distance = smallest Hamming distance "
                       "between one image's whole-image hash and the other's crop hashes, either way; "
                       "exact multi-index hashing search"),
            "threshold": threshold,
            "hash_bits": HASH_BITS,
            "crops": [list(c) for c in CROPS],
            "candidates_checked": relations["n_candidates"],
            "pairs": relations["near_pairs"],
        },
        "pair_counts": relations["pair_counts"],
        "cross_split": _cross_split(items, relations["matches"]),
        "within_split": _within_split(items, relations["matches"]),
        "label_conflicts": relations["conflicts"],
        "test_duplicates": _test_duplicates(items, relations["matches"]),
        "groups": [[items[i]["path"] for i in g] for g in groups],
    }
    audit["shortcut"] = _shortcut(items, feats, groups, workers)
    audit["timing_s"] = {
        "features": round(t_features - started, 2),
        "duplicates": round(t_near - t_features, 2),
        "total": round(time.perf_counter() - started, 2),
    }
    audit["cache"] = {"path": str(cache.path) if cache else None,
                      "hits": cache.hits if cache else 0, "misses": cache.misses if cache else len(items)}
    return audit


def _properties(items: list[dict[str, Any]], feats: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for it, f in zip(items, feats):
        by[it["split"]][it["label"] if it["label"] is not None else "unlabelled"].append(f)
    order = [*order_classes({it["label"] for it in items if it["label"] is not None}), "unlabelled"]
    return {split: {c: summarise(by[split][c]) for c in order if c in by[split]}
            for split in SPLITS if split in by}


def _shortcut(items: list[dict[str, Any]], feats: list[dict[str, Any]], groups: list[list[int]],
              workers: int) -> dict[str, Any]:
    group_of = np.arange(len(items))
    for g in groups:
        group_of[g] = g[0]
    keep = [i for i, (it, f) in enumerate(zip(items, feats)) if it["label"] is not None and f["error"] is None]
    # Parallel trees only pay off on large datasets: on a few hundred images the thread start-up
    # costs more than the fitting (3x slower on the test datasets).
    return shortcut_check([feats[i] for i in keep], [items[i]["label"] for i in keep],
                          [int(group_of[i]) for i in keep], n_jobs=workers if len(keep) >= 2000 else 1)
