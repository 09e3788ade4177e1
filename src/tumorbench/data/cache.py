"""Decoded-and-resized images kept between runs: uint8 arrays on disk, memory-mapped.

Decoding and resizing every JPEG of a dataset is paid by every run and every preprocessing spec, yet
the result depends only on the files and on the spec's size, colour mode and resize filter. So it is
stored once under a key of exactly those, and later runs memory-map it: no decoding, and processes
that read the same entry share its pages through the operating system.

An entry is `<key>.npy` (uint8, N_ok x C x size x size, the files that decoded, in order) and
`<key>.json` (format version, the indices of those files, and the files that failed with the reason).
Both are written to temporary files and renamed into place, the JSON last: a reader that finds the
JSON finds a whole array, and two processes filling the same entry each write whole files, the last
rename winning with the same content. Arrays are read with `allow_pickle=False`; a missing, stale or
damaged entry is decoded again, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tumorbench._io import atomic_write, read_json, write_json
from tumorbench.data.images import load_images
from tumorbench.data.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

# Bump when decoding changes (data/images.py: colour conversion, resize, what counts as unreadable), so
# that entries written by the old code are not reused.
ARRAY_CACHE_VERSION = 2  # 2: images over the pixel limit (tumorbench.data.images) are skipped


def default_cache_dir() -> Path:
    """`$TUMORBENCH_ARRAY_CACHE`, else `<tumorbench cache>/arrays` (`$TUMORBENCH_CACHE`, else
    `$XDG_CACHE_HOME/tumorbench`, else `~/.cache/tumorbench`)."""
    own = os.environ.get("TUMORBENCH_ARRAY_CACHE")
    if own:
        return Path(own).expanduser()
    from tumorbench.data.synthetic import default_cache_dir as base_dir

    return base_dir() / "arrays"


def _file_state(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"  # decoding will name it as unreadable; its later appearance changes the key
    return f"{st.st_size}:{st.st_mtime_ns}"


def cache_key(root: str | os.PathLike, relpaths: Sequence[str], spec: PreprocessSpec) -> str:
    """Hex digest of the decoder version, the dataset folder, every file (path, size, modification
    time) in order, and the spec's size, colour mode and resize filter: what the decoded pixels depend
    on. Scaling (normalize, mean, std) is applied later, on tensors, and is not part of it."""
    root = Path(root).resolve()
    digest = hashlib.sha256()
    header = {"version": ARRAY_CACHE_VERSION, "root": str(root), "size": spec.size, "mode": spec.mode,
              "resize": spec.resize, "files": len(relpaths)}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for rel in relpaths:
        digest.update(f"\n{rel}\0{_file_state(root / rel)}".encode())
    return digest.hexdigest()[:32]


def _read_entry(npy: Path, meta: Path, n_files: int, spec: PreprocessSpec):
    """The entry's (array, ok, bad), or None when absent or not what this request needs."""
    if not meta.is_file():
        return None
    try:
        doc = read_json(meta)
        x = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:  # removed between the two reads, truncated by a full disk, ...
        log.warning("array cache entry %s unusable (%s); decoding again", npy.name, exc)
        return None
    ok, bad = doc.get("ok"), doc.get("bad")
    expected = (len(ok or []), spec.channels, spec.size, spec.size)
    if (doc.get("version") != ARRAY_CACHE_VERSION or doc.get("files") != n_files or not isinstance(ok, list)
            or not isinstance(bad, list) or x.dtype != np.uint8 or x.shape != expected):
        log.warning("array cache entry %s does not match its description; decoding again", npy.name)
        return None
    return x, [int(i) for i in ok], [(str(p), str(r)) for p, r in bad]


def load_images_cached(
    root: str | os.PathLike, relpaths: Sequence[str], spec: PreprocessSpec, *,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """`load_images` through the on-disk cache: (uint8 array, indices of decoded files, (path, reason)
    of the others). A hit returns a read-only memory map; `cache_dir=None` uses `default_cache_dir()`."""
    entry = cached_images(root, relpaths, spec, cache_dir=cache_dir)
    if entry is not None:
        return entry
    x, ok, bad = load_images(Path(root), relpaths, spec)
    store_images(root, relpaths, spec, (x, ok, bad), cache_dir=cache_dir)
    return x, ok, bad


def cached_images(
    root: str | os.PathLike, relpaths: Sequence[str], spec: PreprocessSpec, *,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]] | None:
    """The cache's entry for these files at this spec (a read-only memory map), or None."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(root, relpaths, spec)
    entry = _read_entry(folder / f"{key}.npy", folder / f"{key}.json", len(relpaths), spec)
    if entry is not None:
        log.debug("decoded images of %s at %d px %s from the cache %s", root, spec.size, spec.mode, folder / key)
    return entry


def store_images(
    root: str | os.PathLike, relpaths: Sequence[str], spec: PreprocessSpec,
    decoded: tuple[np.ndarray, list[int], list[tuple[str, str]]], *, cache_dir: str | os.PathLike | None = None,
) -> None:
    """Write `decoded` (array, indices of decoded files, (path, reason) of the others) as the cache's entry."""
    root = Path(root)
    x, ok, bad = decoded
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(root, relpaths, spec)
    npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
    try:
        # np.save appends '.npy' to names without it: write through an open file to keep the temp name.
        atomic_write(npy, lambda p: _save_array(p, x))
        write_json(meta, {"version": ARRAY_CACHE_VERSION, "root": str(root.resolve()), "files": len(relpaths),
                          "spec": {"size": spec.size, "mode": spec.mode, "resize": spec.resize},
                          "ok": ok, "bad": [list(b) for b in bad]})
    except OSError as exc:
        # A read-only or full cache location slows the next run down; it must not fail this one.
        log.warning("could not write the array cache in %s: %s", folder, exc)
    else:
        _drop_superseded(folder, keep=key, root=root.resolve(), spec=spec)


def _drop_superseded(folder: Path, *, keep: str, root: Path, spec: PreprocessSpec) -> None:
    """Remove older entries of the same folder and spec (its files changed since): one entry per
    dataset and spec, not one per edit. A process still reading a removed entry keeps its mapping."""
    wanted = {"size": spec.size, "mode": spec.mode, "resize": spec.resize}
    for meta in folder.glob("*.json"):
        if meta.stem == keep:
            continue
        try:
            doc = read_json(meta)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("root") == str(root) and doc.get("spec") == wanted:
            meta.unlink(missing_ok=True)
            meta.with_suffix(".npy").unlink(missing_ok=True)


def _save_array(path: Path, x: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(x), allow_pickle=False)
