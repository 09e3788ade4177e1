"""The on-disk cache of decoded images: hits, invalidation, damage, and two processes sharing it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from tumorbench.data import cache as cache_module
from tumorbench.data.cache import cache_key, load_images_cached
from tumorbench.data.folder import scan_dataset
from tumorbench.data.images import load_images
from tumorbench.data.preprocess import PreprocessSpec

SPEC = PreprocessSpec(size=24)


def _paths(root: Path) -> list[str]:
    index = scan_dataset(root)
    return [r.path for split in ("train", "test") for r in index.splits[split]]


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _no_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("decoded although the cache holds the images")

    monkeypatch.setattr(cache_module, "load_images", fail)


def test_second_load_maps_the_cached_array_without_decoding(tiny_dataset, tmp_path, monkeypatch):
    paths = _paths(tiny_dataset)
    (tiny_dataset / "Training" / "glioma_tumor" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    paths.append("Training/glioma_tumor/broken.jpg")
    direct = load_images(tiny_dataset, paths, SPEC)
    first = load_images_cached(tiny_dataset, paths, SPEC, cache_dir=tmp_path / "c")
    assert len(_entries(tmp_path / "c")) == 2  # <key>.npy and <key>.json, no temporary file left
    _no_decoding(monkeypatch)
    second = load_images_cached(tiny_dataset, paths, SPEC, cache_dir=tmp_path / "c")
    assert isinstance(second[0], np.memmap) and not second[0].flags.writeable
    for got in (first, second):
        np.testing.assert_array_equal(got[0], direct[0])
        assert got[1] == direct[1] and got[2] == direct[2] and got[2][0][0] == "Training/glioma_tumor/broken.jpg"


def test_a_changed_file_or_spec_is_decoded_again(tiny_dataset, tmp_path):
    paths = _paths(tiny_dataset)
    load_images_cached(tiny_dataset, paths, SPEC, cache_dir=tmp_path / "c")
    key = cache_key(tiny_dataset, paths, SPEC)
    for other in (PreprocessSpec(size=32), PreprocessSpec(size=24, resize="nearest"),
                  PreprocessSpec(size=24, grayscale=False)):
        assert cache_key(tiny_dataset, paths, other) != key
    # Scaling is applied to tensors later: the same decoded pixels serve every scaling.
    assert cache_key(tiny_dataset, paths, PreprocessSpec(size=24, normalize=False)) == key
    assert cache_key(tiny_dataset, paths[:-1], SPEC) != key

    target = tiny_dataset / paths[0]
    from PIL import Image
    Image.new("L", (40, 40), 255).save(target)  # same name, new pixels
    os.utime(target, ns=(1, 1))  # even with an old modification time: the size or time differs
    assert cache_key(tiny_dataset, paths, SPEC) != key
    x, ok, _ = load_images_cached(tiny_dataset, paths, SPEC, cache_dir=tmp_path / "c")
    assert (x[0] == 255).all()
    # The superseded entry of the same folder and spec is removed: one entry per dataset and spec.
    assert len(_entries(tmp_path / "c")) == 2 and f"{key}.npy" not in _entries(tmp_path / "c")


@pytest.mark.parametrize("damage", ["truncated array", "wrong shape", "array gone", "bad json"])
def test_a_damaged_entry_is_decoded_again_not_trusted(tiny_dataset, tmp_path, damage):
    paths = _paths(tiny_dataset)
    good, ok, _ = load_images_cached(tiny_dataset, paths, SPEC, cache_dir=tmp_path / "c")
    good = np.array(good)
    key = cache_key(tiny_dataset, paths, SPEC)
    npy, meta = tmp_path / "c" / f"{key}.npy", tmp_path / "c" / f"{key}.json"
    if damage == "truncated array":
        npy.write_bytes(npy.read_bytes()[:200])
    elif damage == "wrong shape":
        np.save(npy, np.zeros((3, 1, 24, 24), np.uint8))
    elif damage == "array gone":
        npy.unlink()
    else:
        meta.write_text("{ half")
    x, ok2, _ = load_images_cached(tiny_dataset, paths, SPEC, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(x, good)
    assert ok2 == ok
    np.testing.assert_array_equal(np.load(npy, allow_pickle=False), good)  # repaired on disk


def test_an_unwritable_cache_does_not_fail_the_load(tiny_dataset, tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    x, ok, bad = load_images_cached(tiny_dataset, _paths(tiny_dataset), SPEC, cache_dir=blocked)
    assert len(x) == len(ok) == 76 and bad == []


_WORKER = textwrap.dedent("""
    import hashlib, sys
    from pathlib import Path
    from tumorbench.data.cache import cache_key, load_images_cached
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.preprocess import PreprocessSpec
    root, folder, rounds, wipe = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "wipe"
    spec = PreprocessSpec(size=24)
    index = scan_dataset(root)
    paths = [r.path for split in ("train", "test") for r in index.splits[split]]
    key = cache_key(root, paths, spec)
    for _ in range(rounds):
        if wipe:  # the other process keeps finding, losing and refilling the entry
            for suffix in (".json", ".npy"):
                (folder / (key + suffix)).unlink(missing_ok=True)
        x, ok, bad = load_images_cached(root, paths, spec, cache_dir=folder)
        print(hashlib.sha256(bytes(x)).hexdigest(), len(ok), len(bad), flush=True)
""")


def test_two_processes_sharing_the_cache_never_see_a_partial_entry(tiny_dataset, tmp_path):
    paths = _paths(tiny_dataset)
    expected = load_images(tiny_dataset, paths, SPEC)[0]
    import hashlib
    digest = hashlib.sha256(bytes(expected)).hexdigest()
    folder = tmp_path / "shared-cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(cache_module.__file__).parents[2]),
                                                         os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tiny_dataset), str(folder), "12", mode],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for mode in ("wipe", "keep")]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        lines = out.split("\n")[:-1]
        assert len(lines) == 12 and set(lines) == {f"{digest} 76 0"}, (lines, err)
    assert not [p for p in folder.iterdir() if p.suffix not in (".npy", ".json")]  # no temporary file left


def test_a_run_decodes_each_image_once_and_gets_the_same_arrays(tiny_dataset, tmp_path, monkeypatch):
    """The audit's decoding feeds the training arrays (`ArrayCache.tap`): with both caches cold no file
    is decoded a second time, and the arrays are exactly what the training decoder gives."""
    from tumorbench.audit import audit_dataset
    from tumorbench.data import arrays as arrays_module
    from tumorbench.data.arrays import ArrayCache

    (tiny_dataset / "Training" / "glioma_tumor" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    monkeypatch.setenv("TUMORBENCH_ARRAY_CACHE", str(tmp_path / "arrays"))
    index = scan_dataset(tiny_dataset)
    records = [r for split in ("train", "val", "test") for r in index.splits.get(split, [])]
    specs = [SPEC, PreprocessSpec(size=16, grayscale=False)]
    expected = {s.size: load_images(tiny_dataset, [r.path for r in records], s) for s in specs}

    decoded_again: list[str] = []
    real = arrays_module.load_images
    monkeypatch.setattr(arrays_module, "load_images",
                        lambda root, paths, spec, **kw: (decoded_again.extend(paths), real(root, paths, spec, **kw))[1])
    cache = ArrayCache(index.root, records)
    audit_dataset(index, cache_dir=False, tap=cache.tap(specs))
    for spec in specs:
        got = cache.decoded(spec)
        x, ok, bad = expected[spec.size]
        np.testing.assert_array_equal(got.x, x)
        assert got.paths == [records[i].path for i in ok]
    # Only the file the audit could not decode is tried again (and fails again, with the decoder's reason).
    assert decoded_again == ["Training/glioma_tumor/broken.jpg"] * 2
    assert cache.bad == dict(bad)
    # Both specs are now in the on-disk cache: a second run's tap has nothing to keep.
    assert ArrayCache(index.root, records).tap(specs) is None


def test_a_split_reads_the_decoded_images_in_place(tiny_dataset, tmp_path, monkeypatch):
    """A split's arrays are rows of the decoded dataset, not a second copy of its pixels (0.2 GB at
    256 px on Sartaj), memory-mapped from the cache too, and `images` gives the split's own pixels in
    the split's order."""
    from tumorbench.data.arrays import ArrayCache

    monkeypatch.setenv("TUMORBENCH_ARRAY_CACHE", str(tmp_path / "arrays"))
    index = scan_dataset(tiny_dataset)
    records = [r for split in ("train", "test") for r in index.splits[split]]
    for attempt in ("decoded", "mapped from the cache"):
        decoded = ArrayCache(index.root, records).decoded(SPEC)
        chosen = decoded.paths[::-2]  # another order than the decoding's
        split = decoded.arrays(chosen)
        assert np.shares_memory(split.x.numpy(), decoded.x), attempt
        assert decoded.x.flags.writeable == (attempt == "decoded")  # the second pass maps the read-only cache
        expected = np.stack([decoded.x[decoded.paths.index(p)] for p in chosen])
        np.testing.assert_array_equal(split.images().numpy(), expected)
        np.testing.assert_array_equal(split.images(torch.tensor([2, 0])).numpy(), expected[[2, 0]])
        np.testing.assert_array_equal(split.images(slice(1, 3)).numpy(), expected[1:3])
        assert split.labels == [decoded.labels[decoded.paths.index(p)] for p in chosen]
