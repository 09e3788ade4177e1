"""How the images of one dataset relate: pairs with identical bytes, identical pixels or a near-identical
hash, the groups they form, and what they mean per split (duplicates across and within splits, test
images with a copy in training). Pure bookkeeping on the features `core.audit_dataset` extracted."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tumorbench.audit._near import hashes_to_words, near_pairs
from tumorbench.data.folder import ALL_SPLITS as SPLITS  # a flat dataset's one split ("all") too

# Kinds of relation between two images, strongest first.
KINDS = ("bytes", "pixels", "near")
EXACT_KINDS = ("bytes", "pixels")


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
