"""Choose the from-scratch CNN recipe of `--preset best-cpu` on validation only.

The validation split is the one `tumorbench run` draws (stratified 20 % of Training, `--seed`); the
Testing split is never read. Trains one configuration with the library's own training loop
(`tumorbench.training.fit`, so every knob measured is the config field the preset sets), optionally on
a share of the training images (`--train-share`) to keep exploration short, and prints the validation
accuracy and macro-F1 of the best epoch with and without the mirror-image test-time augmentation, the
epoch it was found at and the seconds. `--save` keeps the validation probabilities (.npz) so that
ensembles can be weighed on validation afterwards (`--combine A.npz B.npz`).

    PYTHONPATH=src python benchmarks/ablation_small_cnn.py --data ../shared/datasets/sartaj --seed 0 \\
        --set epochs=20 --set augment=strong --set schedule=cosine --threads 1
    PYTHONPATH=src python benchmarks/ablation_small_cnn.py --model hog_svm --data ... --save hog.npz
    PYTHONPATH=src python benchmarks/ablation_small_cnn.py --combine hog.npz cnn.npz
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from tumorbench.classes import CLASS_NAMES
from tumorbench.config import make_config, resolve_model
from tumorbench.data.appearance import DESCRIPTOR_SPEC, appearance_descriptors, cluster_split
from tumorbench.data.arrays import ImageArrays
from tumorbench.data.cache import load_images_cached
from tumorbench.data.folder import scan_dataset
from tumorbench.data.split import stratified_split
from tumorbench.device import seed_everything
from tumorbench.inference.compute import plan_compute
from tumorbench.models import get_model_entry, register_model
from tumorbench.models.small_resnet import SmallResNet
from tumorbench.training.fit import fit


def arrays(root: Path, records, spec) -> ImageArrays:
    x, ok, _bad = load_images_cached(root, [r.path for r in records], spec)
    return ImageArrays.from_numpy(np.asarray(x), [records[i].label for i in ok], [records[i].path for i in ok])


def register_variant(widths: str, blocks: int) -> str:
    """A SmallResNet of other widths/depth, registered under a name of its own for this process."""
    name = f"small_resnet_{widths.replace(',', '-')}_b{blocks}"
    ws = tuple(map(int, widths.split(",")))
    entry = get_model_entry("small_resnet")
    register_model(preprocess=entry.preprocess, description="ablation variant", min_size=32, name=name)(
        lambda spec, n: SmallResNet(in_channels=spec.channels, num_classes=n, widths=ws, blocks=blocks))
    return name


def scores(y: np.ndarray, probs: np.ndarray) -> str:
    pred = probs.argmax(1)
    return f"acc {accuracy_score(y, pred):.3f} f1 {f1_score(y, pred, average='macro'):.3f}"


def validation_split(root: Path, records, *, val_groups: str, seed: int):
    """The (train, val) split `tumorbench run` draws with `val_groups` (none: random; cluster: held-out
    appearance clusters), 20 % of Training."""
    if val_groups == "none":
        return stratified_split(records, fraction=0.2, seed=seed)
    records = sorted(records, key=lambda r: r.path)
    x, ok, bad = load_images_cached(root, [r.path for r in records], DESCRIPTOR_SPEC)
    if bad:
        raise SystemExit(f"unreadable images: {bad[:3]}")
    return cluster_split(records, appearance_descriptors(np.asarray(x)), fraction=0.2, seed=seed)


def combine(paths: list[str]) -> None:
    """Weighted mean of two models' validation probabilities over a grid of weights."""
    a, b = (np.load(p) for p in paths)
    assert (a["y"] == b["y"]).all(), "the files hold different validation splits"
    for w in np.linspace(0, 1, 11):
        print(f"weight of {Path(paths[0]).stem} {w:.1f}: {scores(a['y'], w * a['probs'] + (1 - w) * b['probs'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="small_resnet")
    ap.add_argument("--widths", default=None, help="e.g. 24,48,96,192: a SmallResNet variant")
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="train.KEY=VALUE of the config (epochs=20 ...)")
    ap.add_argument("--val-groups", choices=("none", "cluster"), default="none",
                    help="cluster: validation of held-out appearance clusters (the run's val_groups=cluster)")
    ap.add_argument("--train-share", type=float, default=1.0, help="stratified share of the training images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", type=Path, help="validation probabilities to this .npz")
    ap.add_argument("--combine", nargs=2, help="two .npz files: weigh their ensemble on validation")
    args = ap.parse_args()
    if args.combine:
        return combine(args.combine)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    name = register_variant(args.widths, args.blocks) if args.widths or args.blocks > 1 else args.model
    config = make_config({"models": [name], "seed": args.seed},
                         sets=[f"train.{s}" for s in args.set])
    rm = resolve_model(config.models[0], config)
    index = scan_dataset(args.data)
    train, val = validation_split(args.data, index.records("train"), val_groups=args.val_groups, seed=args.seed)
    if args.train_share < 1:
        _, train = stratified_split(train, fraction=args.train_share, seed=args.seed)
    tr, va = arrays(args.data, train, rm.preprocess), arrays(args.data, val, rm.preprocess)
    seed_everything(args.seed)
    t0 = time.perf_counter()
    result = fit(rm, tr, va, device=torch.device("cpu"), compute=plan_compute(torch.device("cpu"), "fp32",
                                                                                 threads=args.threads))
    seconds = time.perf_counter() - t0
    net = result.model.eval()
    if hasattr(net, "flip_tta"):  # the registered model does not average; measure both ways
        net.flip_tta.fill_(True)
    x = rm.preprocess.to_tensor(va.x)
    with torch.inference_mode():
        probs = torch.cat([net(x[i:i + 256]).softmax(1) for i in range(0, len(x), 256)]).numpy()
        if hasattr(net, "logits"):
            plain = torch.cat([net.logits(x[i:i + 256]).softmax(1) for i in range(0, len(x), 256)]).numpy()
    y = va.y.numpy()
    line = f"{name} {' '.join(args.set)} share {args.train_share} train {len(tr)} | val {scores(y, probs)}"
    if hasattr(net, "logits"):
        line += f" (no TTA: {scores(y, plain)})"
    vals = result.history["val_accuracy"]
    line += f" | best epoch {result.best_epoch}/{len(vals)} | {seconds:.0f} s"
    print(line)
    print("val_acc by epoch:", " ".join(f"{v:.3f}" for v in vals))
    if args.save:
        # What the registered model predicts (no mirror averaging), for weighing ensembles.
        np.savez(args.save, y=y, probs=plain if hasattr(net, "logits") else probs, classes=np.array(CLASS_NAMES))


if __name__ == "__main__":
    main()
