"""Which external images copy an image of the run's own training or validation split: the cross-dataset
audit (`tumorbench.audit.external_copies`, the same exact and near-copy search as within one dataset)."""

from __future__ import annotations

from pathlib import Path

from tumorbench.data.folder import DatasetIndex, scan_dataset


def reference_copies(reference_root: Path, dev_paths: list[str], external: DatasetIndex, scored_paths: list[str], *,
                     class_map=None) -> tuple[dict[str, dict], dict]:
    """({external image: {"kind": "exact" | "near", "match": its first copy among `dev_paths`, "match_label"}},
    the cross audit): the `scored_paths` of `external` that copy one of the run's training or validation
    images (`dev_paths`, relative to `reference_root`, read with the run's `class_map`)."""
    from tumorbench.audit.cross import external_copies

    reference = scan_dataset(reference_root, class_map=class_map)
    flagged, cross = external_copies(reference, external, dev_paths=dev_paths, scored_paths=scored_paths)
    dev = set(dev_paths)
    found = {}
    for entry in cross["images"]:
        if entry["path"] in flagged:
            match = next(m for m in entry["matches"] if m["path"] in dev)
            found[entry["path"]] = {"kind": flagged[entry["path"]], "match": match["path"],
                                    "match_label": match["label"] or ""}
    return found, cross
