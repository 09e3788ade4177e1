"""The dataset audit: its speed, and the near-duplicate threshold tuned on copies made here.

    python benchmarks/bench_audit.py --data ../shared/datasets/sartaj

Prints three tables:
1. wall time of `audit_dataset` with a cold (empty) and a warm feature cache;
2. recall of the near-duplicate test per transform (copies made from `--sources` images of the
   dataset: JPEG re-encoding, resizing, crops of 2-3 px, gamma, contrast) at a few thresholds, and
   the matches among `--random-pairs` random pairs of distinct images and among all pairs of the
   dataset: those whose 64 px thumbnails do not correlate (r < 0.9) are counted as false matches, the
   others are real duplicates the dataset has;
3. time of the indexed search (`near_pairs`) on `--scale` hashes, against comparing every pair.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from tumorbench.audit import NEAR_THRESHOLD, audit_dataset
from tumorbench.audit._cache import FeatureCache, file_key
from tumorbench.audit._features import perceptual_hashes
from tumorbench.audit._near import hashes_to_words, near_pairs, pair_distances
from tumorbench.data.folder import scan_dataset
from tumorbench.data.images import _to_mode

THRESHOLDS = (8, 12, 16, 20, 24)


def _jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def f(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        _to_mode(img, "RGB").save(buf, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue()))
    return f


def _resize(factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: img.resize((round(img.width * factor), round(img.height * factor)), Image.Resampling.BICUBIC)


def _crop(px: int, sides: str = "all") -> Callable[[Image.Image], Image.Image]:
    def f(img: Image.Image) -> Image.Image:
        if sides == "all":
            return img.crop((px, px, img.width - px, img.height - px))
        return img.crop((px, 0, img.width, img.height))  # left side only
    return f


def _gamma(g: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: _to_mode(img, "L").point(lambda v: round(255 * (v / 255) ** g))


def _contrast(factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: ImageEnhance.Contrast(_to_mode(img, "L")).enhance(factor)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "JPEG q90": _jpeg(90),
    "JPEG q50": _jpeg(50),
    "resize x0.5": _resize(0.5),
    "resize x1.5": _resize(1.5),
    "crop 2 px": _crop(2),
    "crop 3 px": _crop(3),
    "crop 3 px, one side": _crop(3, "left"),
    "gamma 0.7": _gamma(0.7),
    "gamma 1.5": _gamma(1.5),
    "contrast x1.3": _contrast(1.3),
}


def _load(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return ImageOps.exif_transpose(img)


def _thumb(path: Path) -> np.ndarray:
    img = _to_mode(_load(path), "L").resize((64, 64), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float64).ravel()


def _distance(a: list[str], b: list[str]) -> int:
    return int(pair_distances(hashes_to_words([a, b]), np.array([0]), np.array([1]))[0])


def timing(data: Path, cache: str) -> dict:
    print("1. audit wall time (2 cores)")
    print(f"{'cache':6s} {'images':>7s} {'features s':>11s} {'duplicates s':>13s} {'total s':>8s} {'cache hits':>11s}")
    for label in ("cold", "warm"):
        audit = audit_dataset(data, cache_dir=cache)
        t = audit["timing_s"]
        print(f"{label:6s} {audit['n_images']:7d} {t['features']:11.1f} {t['duplicates']:13.2f} {t['total']:8.1f} "
              f"{audit['cache']['hits']:11d}", flush=True)
    return audit


def cached_hashes(data: Path, cache: str) -> dict[str, list[str]]:
    """The pHashes of every readable file, as the audit computed and cached them."""
    index = scan_dataset(data)
    features = FeatureCache(cache, index.root)
    out = {}
    for recs in index.splits.values():
        for r in recs:
            f = features.get(r.path, file_key(index.root / r.path))
            if f is not None and f["phash"] is not None:
                out[r.path] = f["phash"]
    return out


def tuning(data: Path, audit: dict, hashes: dict[str, list[str]], *, n_sources: int, n_random: int,
           seed: int) -> None:
    rng = np.random.default_rng(seed)
    files = sorted(hashes)
    sources = [files[i] for i in rng.choice(len(files), size=min(n_sources, len(files)), replace=False)]
    print(f"\n2. near-duplicate distance (pHash, 256 bits, crop-tolerant) of copies of {len(sources)} images; "
          f"share within each threshold (default {NEAR_THRESHOLD})")
    print(f"{'transform':22s} {'median':>6s} {'max':>4s} " + " ".join(f"{'<=' + str(t):>6s}" for t in THRESHOLDS))
    for name, transform in TRANSFORMS.items():
        d = np.array([_distance(perceptual_hashes(transform(_load(data / p))), hashes[p]) for p in sources])
        print(f"{name:22s} {np.median(d):6.0f} {d.max():4d} "
              + " ".join(f"{(d <= t).mean():6.1%}" for t in THRESHOLDS), flush=True)

    # Pairs that match are checked by an independent measure, the correlation r of 64 px thumbnails, to
    # tell real copies (this dataset has many) from false matches; identical pixels are duplicates by
    # definition.
    same_pixels = {(a["path"], b["path"]) for g in audit["exact_duplicates"]["groups"]
                   for a in g["members"] for b in g["members"]}
    thumbs: dict[str, np.ndarray] = {}

    def classify(pairs: list[tuple[str, str, int]]) -> tuple[int, int, list[tuple[float, int, str, str]]]:
        n_exact, false = 0, []
        for a, b, dist in pairs:
            if (a, b) in same_pixels:
                n_exact += 1
                continue
            ta = thumbs.setdefault(a, _thumb(data / a))
            tb = thumbs.setdefault(b, _thumb(data / b))
            r = float(np.corrcoef(ta, tb)[0, 1])
            if r < 0.9:
                false.append((r, dist, a, b))
        return n_exact, len(pairs) - n_exact - len(false), sorted(false)

    words = hashes_to_words([hashes[p] for p in files])
    i = rng.integers(0, len(files), n_random)
    j = rng.integers(0, len(files), n_random)
    i, j = i[i != j], j[i != j]
    d = pair_distances(words, i, j)
    print(f"\n   {len(i):,} random pairs of distinct files (distance: min {d.min()}, 0.1 % quantile "
          f"{np.quantile(d, 0.001):.0f}, median {np.median(d):.0f}), and all {len(files) * (len(files) - 1) // 2:,} "
          "pairs of the dataset (indexed search):")
    print("   matches, of which identical pixels, real copies (thumbnail r >= 0.9) and false matches (r < 0.9)")
    print(f"{'threshold':>9s} | {'random':>7s} {'pixels':>7s} {'r>=0.9':>7s} {'false':>6s} {'rate':>8s} | "
          f"{'all':>7s} {'pixels':>7s} {'r>=0.9':>7s} {'false':>6s} {'rate':>10s}")
    n_all = len(files) * (len(files) - 1) // 2
    examples = []
    for t in THRESHOLDS:
        hit = np.flatnonzero(d <= t)
        r_exact, r_real, r_false = classify([(files[i[k]], files[j[k]], int(d[k])) for k in hit])
        ai, aj, ad, _ = near_pairs(words, t)
        a_exact, a_real, a_false = classify([(files[x], files[y], int(z)) for x, y, z in zip(ai, aj, ad)])
        print(f"{t:9d} | {len(hit):7d} {r_exact:7d} {r_real:7d} {len(r_false):6d} {len(r_false) / len(i):8.3%} | "
              f"{len(ai):7d} {a_exact:7d} {a_real:7d} {len(a_false):6d} {len(a_false) / n_all:10.5%}", flush=True)
        if t == NEAR_THRESHOLD:
            examples = a_false
    if examples:
        print(f"   lowest-correlation matches at the default threshold ({NEAR_THRESHOLD}), to look at:")
        for r, dist, a, b in examples[:8]:
            print(f"     r={r:.2f} distance={dist:3d}  {a}  ~  {b}")


def scaling(dataset_words: np.ndarray, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"\n3. indexed near-duplicate search (threshold {NEAR_THRESHOLD}) vs every pair")
    print(f"{'hashes':>8s} {'kind':28s} {'candidates':>11s} {'pairs found':>11s} {'index s':>8s} "
          f"{'all pairs s (est.)':>19s}")
    # MRI pHashes are far from uniform (dark background, one head): besides uniform random hashes, build
    # n hashes from the dataset's own, each with 24-48 of its 256 bits flipped (related, not duplicates),
    # so that the index meets realistic bucket sizes.
    src = dataset_words[rng.integers(0, len(dataset_words), n)]
    bits = np.unpackbits(src.astype(">u8").view(np.uint8).reshape(n, src.shape[1], -1), axis=-1)
    for row in range(n):
        bits[row, :, rng.choice(256, size=int(rng.integers(24, 49)), replace=False)] ^= 1
    kinds = {"uniform random": rng.integers(0, 2**63, size=(n, src.shape[1], 4), dtype=np.uint64),
             "dataset-like (flipped bits)": np.packbits(bits, axis=-1).view(">u8").astype(np.uint64)}
    for kind, words in kinds.items():
        started = time.perf_counter()
        i, _, _, n_candidates = near_pairs(words, NEAR_THRESHOLD)
        took = time.perf_counter() - started
        sample = 200_000
        a, b = rng.integers(0, n, sample), rng.integers(0, n, sample)
        t0 = time.perf_counter()
        pair_distances(words, a, b)
        per_pair = (time.perf_counter() - t0) / sample
        print(f"{n:8,d} {kind:28s} {n_candidates:11,d} {len(i):11,d} {took:8.1f} {per_pair * n * (n - 1) / 2:19.0f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--sources", type=int, default=300, help="images copied per transform")
    parser.add_argument("--random-pairs", type=int, default=20_000)
    parser.add_argument("--scale", type=int, default=50_000, help="hashes for the search-scaling rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        audit = timing(args.data, cache)
        hashes = cached_hashes(args.data, cache)
    tuning(args.data, audit, hashes, n_sources=args.sources, n_random=args.random_pairs, seed=args.seed)
    scaling(hashes_to_words(list(hashes.values())), args.scale, args.seed)


if __name__ == "__main__":
    main()
