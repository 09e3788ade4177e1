"""hog_svm's choices on two validations drawn from Training: random (stratified 20 %) and held-out
appearance clusters (`val_groups: cluster`, `tumorbench.data.appearance`), side by side.

The held-out-cluster validation imitates a change of source; a recipe that wins there should survive
one. Testing is never read. Prints one row per setting: validation accuracy and macro-F1 of the SVM's
own prediction on each validation, the training images being the rest of Training each time. For speed
one RBF Gram matrix over all of Training serves both splits (gamma="scale" over all of Training, not
only the training part as in the model: a small difference).

    PYTHONPATH=src python benchmarks/ablation_shifted_val.py --data ../shared/datasets/sartaj --seed 0

Round 4 (what public HOG + SVM code does differently): `--sizes` (input side; HOG cells stay in px),
`--scales 0,1` (1: scikit-learn's StandardScaler on the HOG vectors before the RBF kernel, fitted on the
training part of each split; gamma="scale" then is 1 / n_features), `--gammas` (multiples of
gamma="scale"), `--splits cluster` to score on the held-out clusters only.

    PYTHONPATH=src python benchmarks/ablation_shifted_val.py --data ../shared/datasets/sartaj --seed 0 \
        --splits cluster --norms none --crops 0 --lbp 0 --C 10 --sizes 64,128,256 --scales 0,1
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from ablation_hog_svm import hog  # HOG vectors in chunks, as that ablation computes them (this directory)
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import SVC

from tumorbench.classes import class_index
from tumorbench.data.appearance import DESCRIPTOR_SPEC, appearance_descriptors, cluster_split
from tumorbench.data.cache import load_images_cached
from tumorbench.data.folder import scan_dataset
from tumorbench.data.split import stratified_split
from tumorbench.models.hog_svm import HOG_SVM_SPEC, rbf_gram, scale_gamma


def decoded(root: Path, records, spec) -> np.ndarray:
    x, ok, bad = load_images_cached(root, [r.path for r in records], spec)
    if bad:
        raise SystemExit(f"unreadable images: {bad[:3]}")
    return np.asarray(x)


def intensity(x: np.ndarray, how: str) -> np.ndarray:
    """(N, 1, H, W) uint8 -> float32 in [0, 1] after the per-image intensity normalisation `how`."""
    from skimage.exposure import equalize_hist

    f = x.astype(np.float32) / 255.0
    if how == "none":
        return f
    if how == "pct":  # 1st-99th percentile of the head -> 0..1, clipped: contrast and exposure alike
        out = np.empty_like(f)
        for i, im in enumerate(f):
            head = im[im > 0.1]
            lo, hi = np.percentile(head if head.size else im, [1, 99])
            out[i] = np.clip((im - lo) / max(hi - lo, 1e-3), 0, 1)
        return out
    if how == "histeq":
        return np.stack([equalize_hist(im[0], mask=im[0] > 0.1)[None] for im in f]).astype(np.float32)
    raise ValueError(how)


def head_crop(x: np.ndarray) -> np.ndarray:
    """Crop every image to the bounding box of its head (pixels > 0.1) and resize back."""
    out = np.empty_like(x)
    size = x.shape[-1]
    for i, im in enumerate(x):
        rows, cols = np.flatnonzero((im[0] > 0.1).any(1)), np.flatnonzero((im[0] > 0.1).any(0))
        if rows.size < 8 or cols.size < 8:
            out[i] = im
            continue
        crop = torch.from_numpy(im[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy())[None]
        out[i] = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0].numpy()
    return out


def lbp(x: np.ndarray, grid: int = 4) -> np.ndarray:
    """Uniform LBP (8 neighbours, radius 1) histograms on a grid x grid layout, L1-normalised per cell."""
    from skimage.feature import local_binary_pattern

    out = []
    for im in x:
        codes = local_binary_pattern((im[0] * 255).astype(np.uint8), 8, 1, method="uniform")
        h, w = codes.shape
        cells = [np.bincount(codes[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid]
                             .astype(int).ravel(), minlength=10)
                 for r in range(grid) for c in range(grid)]
        out.append(np.concatenate([c / max(c.sum(), 1) for c in cells]))
    return np.sqrt(np.asarray(out))  # Hellinger: square roots of histograms behave under an RBF kernel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--norms", default="none,pct,histeq")
    ap.add_argument("--crops", default="0,1")
    ap.add_argument("--cells", default="8,16")
    ap.add_argument("--lbp", default="0,1")
    ap.add_argument("--C", default="1,3,10")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="128", help="input sides in px (the model: 128)")
    ap.add_argument("--scales", default="0", help="1: standardise each HOG feature on the training part")
    ap.add_argument("--gammas", default="1", help="multiples of gamma='scale'")
    ap.add_argument("--splits", default="random,cluster")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    records = sorted(scan_dataset(args.data).records("train"), key=lambda r: r.path)
    position = {r.path: i for i, r in enumerate(records)}
    y = np.array([class_index(r.label) for r in records])
    desc = appearance_descriptors(decoded(args.data, records, DESCRIPTOR_SPEC))
    splits = {"random": stratified_split(records, fraction=0.2, seed=args.seed),
              "cluster": cluster_split(records, desc, fraction=0.2, seed=args.seed)}
    rows = {name: (np.array([position[r.path] for r in tr]), np.array([position[r.path] for r in va]))
            for name, (tr, va) in splits.items() if name in args.splits.split(",")}
    print(" ".join(f"{k}: train {len(t)} val {len(v)}" for k, (t, v) in rows.items()), "(Training only)")
    print("size crop norm     cell lbp scale gamma     C   " + "   ".join(f"{k} acc/F1" for k in rows) + "  seconds",
          flush=True)
    for size in map(int, args.sizes.split(",")):
        xs = decoded(args.data, records, HOG_SVM_SPEC.with_size(size))
        for crop, norm in itertools.product(map(int, args.crops.split(",")), args.norms.split(",")):
            x = intensity(head_crop(xs) if crop else xs, norm)
            for cell, use_lbp in itertools.product(map(int, args.cells.split(",")), map(int, args.lbp.split(","))):
                t0 = time.perf_counter()
                feats = hog(torch.from_numpy(x), cell=cell, orientations=9)
                if use_lbp:  # weighted so the LBP block counts about as much as the HOG block under the kernel
                    extra = lbp(x)
                    feats = np.concatenate([feats, extra * np.sqrt(feats.shape[1] / extra.shape[1]) *
                                            feats.std() / max(extra.std(), 1e-9)], 1)
                for scale, g in itertools.product(map(int, args.scales.split(",")), map(float, args.gammas.split(","))):
                    grams = {}
                    for name, (tr, _) in rows.items():
                        # Standardised with the training part's statistics only (one Gram per split), else
                        # one Gram over all of Training serves every split.
                        f = (feats - feats[tr].mean(0)) / (feats[tr].std(0) + 1e-8) if scale else feats
                        key = name if scale else "all"
                        if key not in grams:
                            grams[key] = rbf_gram(f, f, g * scale_gamma(f[tr] if scale else f))
                    for c in map(float, args.C.split(",")):
                        out = []
                        for name, (tr, va) in rows.items():
                            gram = grams[name if scale else "all"]
                            pred = SVC(kernel="precomputed", C=c).fit(gram[np.ix_(tr, tr)], y[tr]).predict(
                                gram[np.ix_(va, tr)])
                            f1 = f1_score(y[va], pred, average="macro")
                            out.append(f"{accuracy_score(y[va], pred):.3f}/{f1:.3f}")
                        print(f"{size:4d} {crop:4d} {norm:8s} {cell:4d} {use_lbp:3d} {scale:5d} {g:5g} {c:5g}   "
                              + "     ".join(out) + f"   {time.perf_counter() - t0:6.1f}", flush=True)


if __name__ == "__main__":
    main()
