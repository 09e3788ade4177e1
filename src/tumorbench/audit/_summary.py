"""Distributions of file properties (size, aspect, mode, format, file size) per split and class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np


def _range(values: list[float], digits: int = 3) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return {"min": round(float(arr.min()), digits), "median": round(float(np.median(arr)), digits),
            "max": round(float(arr.max()), digits)}


def summarise(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Summary of a group of feature dicts (readable or not)."""
    items = list(items)
    ok = [f for f in items if f["error"] is None]
    sizes = Counter(f"{f['width']}x{f['height']}" for f in ok)
    return {
        "n": len(items),
        "n_unreadable": len(items) - len(ok),
        "width": _range([f["width"] for f in ok], 1),
        "height": _range([f["height"] for f in ok], 1),
        "aspect": _range([f["width"] / f["height"] for f in ok]),
        "file_size": _range([f["file_size"] for f in items], 0),
        "modes": dict(Counter(f["mode"] for f in ok).most_common()),
        "formats": dict(Counter(f["format"] for f in ok).most_common()),
        "n_distinct_sizes": len(sizes),
        "top_sizes": [[size, n] for size, n in sizes.most_common(5)],
    }
