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
from collections import Counter, defaultdict
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
from tumorbench.audit._near import hashes_to_words, near_pairs
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

# Kinds of relation between two images, strongest first.
KINDS = ("bytes", "pixels", "near")
EXACT_KINDS = ("bytes", "pixels")


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


def _split_pair(a: str, b: str) -> str:
    """'test~train' style: the later split first, as in `cross_split`."""
    order = {s: i for i, s in enumerate(SPLITS)}
    a, b = sorted((a, b), key=lambda s: order.get(s, len(order)), reverse=True)
    return f"{a}~{b}"


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


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
    (a run scans its folder once); `class_map` renames class folders (`scan_dataset`). `tap(path, image)` receives every image the audit decodes (files whose
    features come from the cache are not decoded), so a run can build its training arrays from the same
    decoding.

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


def _relations(items: list[dict[str, Any]], feats: list[dict[str, Any]], threshold: int) -> dict[str, Any]:
    """Every pair of images related by identical bytes, identical pixels or a near-identical hash."""
    n = len(items)
    kind_of: dict[tuple[int, int], tuple[str, int]] = {}  # (i, j) i < j -> (kind, distance)

    def relate(i: int, j: int, kind: str, dist: int) -> None:
        key = (min(i, j), max(i, j))
        old = kind_of.get(key)
        if old is None or KINDS.index(kind) < KINDS.index(old[0]):
            kind_of[key] = (kind, dist)

    by_bytes: dict[str, list[int]] = defaultdict(list)
    by_pixels: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(feats):
        if f["bytes_hash"] is not None:
            by_bytes[f["bytes_hash"]].append(i)
        if f["pixel_hash"] is not None:
            by_pixels[f["pixel_hash"]].append(i)
    for members in by_bytes.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                relate(members[a], members[b], "bytes", 0)
    for members in by_pixels.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                relate(members[a], members[b], "pixels", 0)

    # Near duplicates between distinct pixel contents: one representative per pixel group.
    reps = [m[0] for m in by_pixels.values()]
    rep_members = list(by_pixels.values())
    words = hashes_to_words([feats[r]["phash"] for r in reps])
    ri, rj, rd, n_candidates = near_pairs(words, threshold) if len(reps) > 1 else ([], [], [], 0)
    for a, b, d in zip(ri, rj, rd):
        for i in rep_members[a]:
            for j in rep_members[b]:
                relate(i, j, "near", int(d))

    exact_groups = []
    for members in by_pixels.values():
        if len(members) > 1:
            kind = "bytes" if len({feats[i]["bytes_hash"] for i in members}) == 1 else "pixels"
            exact_groups.append(_group_entry(items, members, kind))
    unreadable_bytes: dict[str, list[int]] = defaultdict(list)
    for h, members in by_bytes.items():
        bad = [i for i in members if feats[i]["pixel_hash"] is None]
        if len(bad) > 1:
            unreadable_bytes[h] = bad
    exact_groups.extend(_group_entry(items, m, "bytes") for m in unreadable_bytes.values())
    exact_groups.sort(key=lambda g: g["members"][0]["path"])

    matches: list[dict[int, tuple[str, int]]] = [dict() for _ in range(n)]
    near_list, conflicts = [], []
    pair_counts: dict[str, Counter] = defaultdict(Counter)
    for (i, j), (kind, dist) in sorted(kind_of.items()):
        matches[i][j] = matches[j][i] = (kind, dist)
        a, b = items[i], items[j]
        pair_counts[_split_pair(a["split"], b["split"])][kind] += 1
        entry = {"a": a["path"], "b": b["path"], "split_a": a["split"], "split_b": b["split"],
                 "label_a": a["label"], "label_b": b["label"], "kind": kind, "distance": dist}
        if kind == "near":
            near_list.append(entry)
        if a["label"] is not None and b["label"] is not None and a["label"] != b["label"]:
            conflicts.append(entry)
    near_list.sort(key=lambda e: (e["split_a"] == e["split_b"], e["distance"], e["a"], e["b"]))
    conflicts.sort(key=lambda e: (KINDS.index(e["kind"]), e["distance"], e["a"], e["b"]))
    return {
        "edges": list(kind_of), "matches": matches, "near_pairs": near_list, "conflicts": conflicts,
        "exact_groups": exact_groups, "n_candidates": int(n_candidates),
        "pair_counts": {k: {kind: v.get(kind, 0) for kind in KINDS} for k, v in sorted(pair_counts.items())},
    }


def _group_entry(items: list[dict[str, Any]], members: list[int], kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "members": [{"path": items[i]["path"], "split": items[i]["split"], "label": items[i]["label"]}
                    for i in sorted(members, key=lambda i: items[i]["path"])],
        "splits": sorted({items[i]["split"] for i in members}, key=SPLITS.index),
        "labels": sorted({items[i]["label"] for i in members if items[i]["label"] is not None}),
    }


def _groups(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (of two or more images) of exact and near duplicates."""
    uf = _UnionFind(n)
    for i, j in edges:
        uf.union(i, j)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members[uf.find(i)].append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])


def _image_kind(matches: dict[int, tuple[str, int]], others: list[int]) -> str | None:
    """'exact' when an image has an exact duplicate among `others`, 'near' when only a near one."""
    kinds = {matches[j][0] for j in others}
    if kinds & set(EXACT_KINDS):
        return "exact"
    return "near" if kinds else None


def _cross_split(items: list[dict[str, Any]], matches: list[dict[int, tuple[str, int]]]) -> dict[str, Any]:
    """For each later split vs an earlier one (test vs train, ...): how many of the later split's
    images, per class, have an exact duplicate in the earlier split, or only a near one."""
    present = [s for s in SPLITS if any(it["split"] == s for it in items)]
    out: dict[str, Any] = {}
    for later_i, later in enumerate(present):
        for earlier in present[:later_i]:
            per_class: dict[str, Counter] = defaultdict(Counter)
            total: Counter = Counter()
            for i, it in enumerate(items):
                if it["split"] != later:
                    continue
                kind = _image_kind(matches[i], [j for j in matches[i] if items[j]["split"] == earlier])
                label = it["label"] if it["label"] is not None else "unlabelled"
                per_class[label]["n"] += 1
                total["n"] += 1
                if kind:
                    per_class[label][kind] += 1
                    total[kind] += 1
            out[f"{later}~{earlier}"] = {
                "images": {"n": total["n"], "exact": total["exact"], "near": total["near"]},
                "per_class": {c: {"n": v["n"], "exact": v["exact"], "near": v["near"]}
                              for c, v in per_class.items()},
            }
    return out


def _within_split(items: list[dict[str, Any]], matches: list[dict[int, tuple[str, int]]]) -> dict[str, Any]:
    """Per split and class: images with an exact, or only a near, duplicate in the same split."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for i, it in enumerate(items):
        split = out.setdefault(it["split"], {})
        label = it["label"] if it["label"] is not None else "unlabelled"
        cell = split.setdefault(label, {"n": 0, "exact": 0, "near": 0})
        cell["n"] += 1
        kind = _image_kind(matches[i], [j for j in matches[i] if items[j]["split"] == it["split"]])
        if kind:
            cell[kind] += 1
    return out


def _test_duplicates(items: list[dict[str, Any]], matches: list[dict[int, tuple[str, int]]]) -> list[dict[str, Any]]:
    """Test images with an exact or near duplicate in a development split (train or val)."""
    out = []
    for i, it in enumerate(items):
        if it["split"] != "test":
            continue
        dev = [j for j in matches[i] if items[j]["split"] in ("train", "val")]
        kind = _image_kind(matches[i], dev)
        if kind:
            dev.sort(key=lambda j: (KINDS.index(matches[i][j][0]), matches[i][j][1], items[j]["path"]))
            out.append({"path": it["path"], "label": it["label"], "kind": kind,
                        "matches": [{"path": items[j]["path"], "split": items[j]["split"],
                                     "label": items[j]["label"], "kind": matches[i][j][0],
                                     "distance": matches[i][j][1]} for j in dev]})
    return out


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
