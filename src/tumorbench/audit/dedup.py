"""Reading an audit's duplicates: the groups the splits use (`tumorbench.data.duplicates`), and the
test images the audit found duplicated in training."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tumorbench.data.duplicates import DuplicateGroups


def duplicated_test_images(audit: dict[str, Any]) -> set[str]:
    """Test images (paths relative to the dataset root) that have an exact or near duplicate in a
    development split (train or val). The de-duplicated test split is the test split minus these."""
    return {entry["path"] for entry in audit.get("test_duplicates", [])}


def duplicate_groups(audit: dict[str, Any]) -> DuplicateGroups:
    """The duplicates of an audit (audit.json's exact groups, near pairs and connected groups) as the
    `DuplicateGroups` that splits and checks take, e.g. against the train/val/test lists a run used:

        duplicate_groups(audit).duplicated(split_test, split_train + split_val)
        # -> {'Testing/no_tumor/image(1).jpg': 'exact', ...}
    """
    links: dict[str, dict[str, str]] = defaultdict(dict)
    for group in audit.get("exact_duplicates", {}).get("groups", []):
        paths = [m["path"] for m in group["members"]]
        for a in paths:
            links[a].update((b, "exact") for b in paths if b != a)
    for pair in audit.get("near_duplicates", {}).get("pairs", []):
        # An exact relation found through another group wins over a near one.
        links[pair["a"]].setdefault(pair["b"], "near")
        links[pair["b"]].setdefault(pair["a"], "near")
    groups = tuple(tuple(members) for members in audit.get("groups", []))
    return DuplicateGroups(links=dict(links), groups=groups)
