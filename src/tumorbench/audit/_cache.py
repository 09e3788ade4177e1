"""On-disk cache of per-file audit features, keyed by (relative path, file size, mtime).

One JSON file per dataset folder under the cache directory. A file whose size or modification time
changed, or an entry written by an older feature definition, is recomputed; entries of files that
are gone are dropped when the cache is saved.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from tumorbench._io import read_json, write_json
from tumorbench.audit._features import FEATURE_VERSION

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$TUMORBENCH_AUDIT_CACHE`, else `<tumorbench cache>/audit` (`$TUMORBENCH_CACHE`, else
    `$XDG_CACHE_HOME/tumorbench`, else `~/.cache/tumorbench`).

    The audit's own variable lets tests (and CI) keep the feature cache out of the home folder without
    moving the embedded synthetic dataset, which lives in the same base cache.
    """
    own = os.environ.get("TUMORBENCH_AUDIT_CACHE")
    if own:
        return Path(own).expanduser()
    from tumorbench.data.synthetic import default_cache_dir as base_dir

    return base_dir() / "audit"


def file_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class FeatureCache:
    """Features of the files of one dataset folder, as they were when last computed."""

    def __init__(self, cache_dir: str | os.PathLike, root: Path):
        root = Path(root).resolve()
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.name)[:40] or "dataset"
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        self.path = Path(cache_dir) / f"{slug}-{digest}.json"
        self.root = root
        self._entries: dict[str, dict[str, Any]] = {}
        self._fresh: dict[str, dict[str, Any]] = {}
        self.hits = 0
        self.misses = 0
        if self.path.is_file():
            try:
                doc = read_json(self.path)
            except (ValueError, OSError) as exc:
                log.warning("ignoring unreadable audit cache %s (%s); it will be rebuilt", self.path, exc)
                doc = {}
            if doc.get("version") == FEATURE_VERSION and doc.get("root") == str(root):
                self._entries = doc.get("entries", {})

    def get(self, rel: str, key: tuple[int, int]) -> dict[str, Any] | None:
        entry = self._entries.get(rel)
        if entry is not None and (entry["size"], entry["mtime_ns"]) == tuple(key):
            self.hits += 1
            self._fresh[rel] = entry
            return entry["features"]
        self.misses += 1
        return None

    def put(self, rel: str, key: tuple[int, int], features: dict[str, Any]) -> None:
        self._fresh[rel] = {"size": key[0], "mtime_ns": key[1], "features": features}

    def save(self) -> None:
        """Write the entries seen in this audit (only when something changed)."""
        if self.misses == 0 and set(self._fresh) == set(self._entries):
            return
        try:
            write_json(self.path, {"version": FEATURE_VERSION, "root": str(self.root), "entries": self._fresh})
        except OSError as exc:
            # A read-only cache location slows the next audit down; it must not fail this one.
            log.warning("could not write the audit cache %s: %s", self.path, exc)
