"""The best-cpu figure: `tumorbench run --preset best-cpu` over three seeds, scored once on Testing.

Each seed draws its own validation split from Training and fits its own models (`--seed s`); nothing
is chosen on Testing. Prints, per model and seed, test accuracy and macro-F1 with 95 % percentile
bootstrap intervals (2,000 resamples of the test images), the same on the de-duplicated test subset
(test images with an exact or near duplicate in Training left out, from the run's audit.json), the
validation accuracy the recipe was chosen on (on the preset's validation: held-out appearance clusters
of Training since round 3, `val_groups: cluster`), the training seconds (the ensemble's: the sum of its
members', i.e. the whole preset, refits included), and then mean and sd over seeds.
Since round 4 the preset refits hog_svm on training + validation after choosing (`refit: true`): its
test figures (and the ensemble's) come from that refit model, its validation figures from the model
chosen before the refit; the `test_from` column says which model scored test.

    PYTHONPATH=src python benchmarks/bench_best_cpu.py --data ../shared/datasets/sartaj --out /tmp/best-cpu
    (add --threads 1 on a shared machine; --seeds 0,1,2 by default)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from tumorbench.audit.dedup import duplicated_test_images
from tumorbench.classes import PROB_COLUMNS, class_index


def scores(frame: pd.DataFrame, *, resamples: int = 2000, seed: int = 0) -> dict:
    y = frame["label"].map(class_index).to_numpy()
    pred = frame[list(PROB_COLUMNS)].to_numpy().argmax(1)
    rng = np.random.default_rng(seed)
    boot = np.array([(accuracy_score(y[i], pred[i]), f1_score(y[i], pred[i], average="macro"))
                     for i in (rng.integers(0, len(y), len(y)) for _ in range(resamples))])
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    return {"n": len(y), "accuracy": accuracy_score(y, pred), "macro_f1": f1_score(y, pred, average="macro"),
            "accuracy_ci": (lo[0], hi[0]), "macro_f1_ci": (lo[1], hi[1]),
            "glioma_recall": float((pred[y == 0] == 0).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="parent folder of the run folders (seed<k>/)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: all cores)")
    ap.add_argument("--preset", default="best-cpu")
    args = ap.parse_args()
    rows = []
    for seed in map(int, args.seeds.split(",")):
        run = args.out / f"seed{seed}"
        if not (run / "report.html").is_file():
            cmd = [sys.executable, "-m", "tumorbench.cli", "run", "--preset", args.preset, "--data", str(args.data),
                   "--out", str(run), "--seed", str(seed)]
            if args.threads:
                cmd += ["--set", f"threads={args.threads}"]
            if run.exists():
                cmd.append("--resume")
            started = time.perf_counter()
            subprocess.run(cmd, check=True)
            print(f"seed {seed}: `tumorbench run` took {time.perf_counter() - started:.0f} s (wall clock, "
                  "audit, decoding and report included)", flush=True)
        duplicated = duplicated_test_images(json.loads((run / "audit.json").read_text()))
        for folder in sorted((run / "models").iterdir()):
            if not (folder / "info.json").is_file():
                continue
            info = json.loads((folder / "info.json").read_text())
            frame = pd.read_csv(folder / "predictions_test.csv", keep_default_na=False)
            full, dedup = scores(frame), scores(frame[~frame["image"].isin(duplicated)])
            val = scores(pd.read_csv(folder / "predictions_val.csv", keep_default_na=False), resamples=1)
            refit = info.get("refit") or {}
            refit_members = [m for m in info.get("members", []) if (json.loads(
                (run / "models" / m / "info.json").read_text()).get("refit") or {}).get("status") == "done"]
            test_from = (f"refit ({refit['images']} img)" if refit.get("status") == "done"
                         else f"refit failed: {refit['reason']}" if refit else
                         f"members refit: {'+'.join(refit_members)}" if refit_members else "chosen")
            rows.append({"model": info["name"], "seed": seed, "test_from": test_from,
                         "train_seconds": info["train_seconds"],
                         "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
                         **{f"test_{k}": v for k, v in full.items()}, **{f"dedup_{k}": v for k, v in dedup.items()}})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else (f"{v[0]:.3f}-{v[1]:.3f}" if isinstance(v, tuple) else v)  # noqa: E731
    print(table.map(fmt).to_string(index=False))
    numeric = ["val_accuracy", "test_accuracy", "test_macro_f1", "test_glioma_recall", "dedup_accuracy",
               "dedup_macro_f1", "train_seconds"]
    summary = table.groupby("model")[numeric].agg(["mean", "std"])
    print("\nmean and sd over seeds")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
