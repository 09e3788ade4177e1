"""Choose hog_svm's settings on validation only: HOG cell size, image size, C, class weights.

The validation split is the one `tumorbench run` draws (stratified 20 % of Training, `--seed`), so the
figures are the ones the preset was chosen on; the Testing split is never read. Prints one row per
setting: validation accuracy and macro-F1 of the SVM's own (one-vs-one vote) prediction.

    PYTHONPATH=src python benchmarks/ablation_hog_svm.py --data ../shared/datasets/sartaj --seed 0
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import SVC

from tumorbench.classes import class_index
from tumorbench.data.cache import load_images_cached
from tumorbench.data.folder import scan_dataset
from tumorbench.data.split import stratified_split
from tumorbench.models.hog import HOGFeatures
from tumorbench.models.hog_svm import HOG_SVM_SPEC, rbf_gram, scale_gamma


def arrays(root: Path, records, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """Model inputs at `size`, as `tumorbench run` decodes them."""
    spec = HOG_SVM_SPEC.with_size(size)
    x, ok, _bad = load_images_cached(root, [r.path for r in records], spec)
    y = np.array([class_index(records[i].label) for i in ok])
    return spec.to_tensor(torch.from_numpy(np.asarray(x))), y


@torch.inference_mode()
def hog(x: torch.Tensor, *, cell: int, orientations: int) -> np.ndarray:
    m = HOGFeatures(cell=cell, orientations=orientations)
    return torch.cat([m(x[i:i + 256]) for i in range(0, len(x), 256)]).double().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="64,96,128")
    ap.add_argument("--cells", default="8,16")
    ap.add_argument("--orientations", default="9")
    ap.add_argument("--C", default="1,3,10,30")
    ap.add_argument("--weights", default="none,balanced")
    ap.add_argument("--flips", default="0", help="1: add left-right mirrored training images (anatomy allows it; "
                    "no gain on validation, so hog_svm does not)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    index = scan_dataset(args.data)
    train, val = stratified_split(index.records("train"), fraction=0.2, seed=args.seed)
    print(f"train {len(train)} val {len(val)} (Training only; Testing is not read)")
    print("flip size cell orient   dim     C  weights   val_acc val_f1  seconds")
    for size in map(int, args.sizes.split(",")):
        xt, yt = arrays(args.data, train, size)
        xv, yv = arrays(args.data, val, size)
        for cell, orient in itertools.product(map(int, args.cells.split(",")), map(int, args.orientations.split(","))):
            if size // cell < 2:
                continue
            fv = hog(xv, cell=cell, orientations=orient)
            for flip in map(int, args.flips.split(",")):
                ft, yf = hog(xt, cell=cell, orientations=orient), yt
                if flip:  # mirrored training images added (the model's `flip`)
                    ft = np.concatenate([ft, hog(xt.flip(-1), cell=cell, orientations=orient)])
                    yf = np.concatenate([yt, yt])
                gamma = scale_gamma(ft)
                kt, kv = rbf_gram(ft, ft, gamma), rbf_gram(fv, ft, gamma)
                weightings = [None if w == "none" else w for w in args.weights.split(",")]
                for c, weights in itertools.product(map(float, args.C.split(",")), weightings):
                    t0 = time.perf_counter()
                    pred = SVC(kernel="precomputed", C=c, class_weight=weights).fit(kt, yf).predict(kv)
                    print(f"{flip:4d} {size:4d} {cell:4d} {orient:6d} {ft.shape[1]:5d} {c:5g}  "
                          f"{str(weights):8s}  {accuracy_score(yv, pred):.4f}  "
                          f"{f1_score(yv, pred, average='macro'):.4f}  {time.perf_counter() - t0:6.1f}", flush=True)

if __name__ == "__main__":
    main()
