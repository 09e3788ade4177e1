"""Cost of the binary view and the operating points per model (what `evaluate_model` adds).

    python benchmarks/bench_binary_view.py                          # 1,311 test, 570 validation images
    python benchmarks/bench_binary_view.py --test 394 --val 200 --resamples 10000

Test images with the class counts of the 1,311-image test split of the "Brain Tumor MRI Dataset"
(glioma 300, meningioma 306, no tumour 405, pituitary 300), validation drawn the same way at its size;
probabilities are a noisy softmax. Times `model_result.binary_parts` (binary view with its intervals,
binary ROC points, 5 views x 4 operating points with theirs); prints the load, each repeat and the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

from tumorbench.evaluation.model_result import binary_parts
from tumorbench.evaluation.settings import BootstrapSettings, EvaluationSettings

CLASSES = ("glioma", "meningioma", "no_tumor", "pituitary")
CLASS_COUNTS = (300, 306, 405, 300)


def _frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    counts = np.round(np.array(CLASS_COUNTS) * n / sum(CLASS_COUNTS)).astype(int)
    counts[-1] += n - counts.sum()
    y = np.repeat(np.arange(len(CLASSES)), counts)
    logits = rng.normal(0, 1, (n, len(CLASSES)))
    logits[np.arange(n), y] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    data = {"image": [f"img{i}.png" for i in range(n)], "label": [CLASSES[k] for k in y]}
    data.update({f"prob_{c}": probs[:, k] for k, c in enumerate(CLASSES)})
    return pd.DataFrame(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=1311)
    parser.add_argument("--val", type=int, default=570)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    test, val = _frame(args.test, rng), _frame(args.val, rng)
    settings = EvaluationSettings(bootstrap=BootstrapSettings(resamples=args.resamples))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.test} test, {args.val} "
          f"validation images, {args.resamples} resamples")
    binary_parts(test, val, settings)  # warm-up (imports, first allocation)
    seconds = []
    for i in range(args.repeats):
        start = time.perf_counter()
        parts = binary_parts(test, val, settings)
        seconds.append(time.perf_counter() - start)
        print(f"repeat {i + 1}: {seconds[-1]:.3f} s ({len(parts['operating_points']['points'])} operating points)")
    print(f"median {statistics.median(seconds):.3f} s per model")


if __name__ == "__main__":
    main()
