"""Which external images copy an image of the run's own training or validation split.

SEAM (i24-audit): `reference_copies` is where the cross-dataset audit's function is called. Until that
lands, the search below is provisional: it uses the dataset audit's own per-file features (identical
bytes, identical pixels, crop-tolerant pHash within NEAR_THRESHOLD bits) on the two file lists.
"""

from __future__ import annotations

from pathlib import Path

from tumorbench.data.folder import ImageRecord


def reference_copies(reference_root: Path, reference: list[ImageRecord], external_root: Path,
                     external: list[ImageRecord]) -> dict[str, dict]:
    """{external image: {"kind": "exact" | "near", "match": reference image, "match_label": its class}}
    for every external image with an exact or near copy among `reference` (the run's training and
    validation images, paths relative to `reference_root`)."""
    from tumorbench.audit._cache import FeatureCache, default_cache_dir
    from tumorbench.audit._near import hashes_to_words, near_pairs
    from tumorbench.audit.core import NEAR_THRESHOLD, _features_of

    def features(root: Path, records: list[ImageRecord]) -> list[dict]:
        cache = FeatureCache(default_cache_dir(), Path(root))
        found = _features_of(Path(root), [r.path for r in records], cache, workers=2)
        cache.save()
        return found

    ref, ext = features(reference_root, reference), features(external_root, external)
    found: dict[str, dict] = {}

    def keep(e: int, r: int, kind: str) -> None:
        if e not in found or (found[e]["kind"] == "near" and kind == "exact"):
            found[e] = {"kind": kind, "match": reference[r].path, "match_label": reference[r].label or ""}

    for key in ("bytes_hash", "pixel_hash"):
        where = {f[key]: i for i, f in enumerate(ref) if f[key] is not None}
        for e, f in enumerate(ext):
            if f[key] is not None and f[key] in where:
                keep(e, where[f[key]], "exact")
    readable_ref = [i for i, f in enumerate(ref) if f["phash"] is not None]
    readable_ext = [i for i, f in enumerate(ext) if f["phash"] is not None]
    if readable_ref and readable_ext:
        words = hashes_to_words([ref[i]["phash"] for i in readable_ref] + [ext[i]["phash"] for i in readable_ext])
        ii, jj, _, _ = near_pairs(words, NEAR_THRESHOLD)
        n_ref = len(readable_ref)
        for a, b in zip(ii.tolist(), jj.tolist()):
            a, b = min(a, b), max(a, b)
            if a < n_ref <= b:  # one image of each dataset
                keep(readable_ext[b - n_ref], readable_ref[a], "near")
    return {external[e].path: hit for e, hit in sorted(found.items())}
