"""Speed of the confidence intervals: every registered metric of every model, 10,000 resamples.

    python benchmarks/bench_bootstrap.py                      # 10 models x 1,311 images x 10,000 resamples
    python benchmarks/bench_bootstrap.py --models 4 --images 394 --resamples 2000

The images are drawn with the class counts of the 1,311-image test split of the "Brain Tumor MRI
Dataset" (glioma 300, meningioma 306, no tumour 405, pituitary 300) and each model's probabilities are a
noisy softmax. Prints the machine's load, then per repeat: the joint stratified bootstrap of all models
(resampling weights, one matrix product, every bootstrapped metric), the delta-method intervals of the
rank metrics (AUC, AP) and the total; the figure to quote is the median total. The percentile and BCa
intervals are timed separately (BCa adds the jackknife).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.bootstrap import bootstrap, intervals
from tumorbench.evaluation.classification import score_context
from tumorbench.evaluation.registry import columns, metrics
from tumorbench.evaluation.settings import BootstrapSettings

CLASS_COUNTS = (300, 306, 405, 300)  # 1,311 images


def _models(n_models: int, n_images: int, seed: int = 0) -> dict:
    counts = np.round(np.array(CLASS_COUNTS) * n_images / sum(CLASS_COUNTS)).astype(int)
    counts[-1] += n_images - counts.sum()
    y = np.repeat(np.arange(len(CLASS_NAMES)), counts)
    rng = np.random.default_rng(seed)
    out = {}
    for m in range(n_models):
        logits = rng.normal(0, 1, (len(y), len(CLASS_NAMES)))
        logits[np.arange(len(y)), y] += 1.0 + 0.2 * m
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        out[f"model_{m}"] = score_context(y, probs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--images", type=int, default=1311)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    contexts = _models(args.models, args.images)
    n_boot = sum(len(columns(s)) for s in metrics(interval="bootstrap"))
    n_delta = sum(len(columns(s)) for s in metrics(interval="delta"))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.models} models x "
          f"{args.images} images x {args.resamples:,} resamples; per model {n_boot} bootstrapped values "
          f"and {n_delta} delta-method ones")
    for method in ("percentile", "bca"):
        settings = BootstrapSettings(resamples=args.resamples, method=method)
        totals = []
        for repeat in range(args.repeats):
            start, cpu = time.perf_counter(), time.process_time()
            replicates = bootstrap(contexts, settings)
            resampled = time.perf_counter()
            intervals(contexts, settings=settings, replicates=replicates)
            done = time.perf_counter()
            totals.append(done - start)
            # CPU time of this process (all its threads): on a machine shared with other jobs it shows how
            # much of the wall time was waiting for a core.
            print(f"  {method:10s} repeat {repeat + 1}: bootstrap {resampled - start:.2f} s, intervals "
                  f"(quantiles, delta method) {done - resampled:.2f} s, total {done - start:.2f} s "
                  f"(CPU {time.process_time() - cpu:.2f} s)")
        print(f"{method}: median total {statistics.median(totals):.2f} s "
              f"(load average now {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
