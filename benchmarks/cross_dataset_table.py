"""The cross-dataset table of one or more run folders trained with external test sets, as Markdown.

Per model: the run's own test split (accuracy and macro-F1, full and de-duplicated), each external set
scored on accuracy / macro-F1 (a set with tumour classes only, such as figshare) or on the tumour vs
no-tumour AUC (a yes/no set), all images and without the copies of the run's training and validation
images, with the report's intervals; the images left without copies, per class; the training minutes
(info.json's train_seconds summed over the model and, for the ensemble, its members). Several run folders
(seeds) give a mean ± sd row per model after the per-seed rows.

    tumorbench run --data ../shared/datasets/sartaj --preset best-cpu \
        --external ../shared/datasets/figshare \
        --external ../shared/datasets/yes-no --external-class-map yes-no:yes=tumor,no=no_tumor --out /tmp/b0
    PYTHONPATH=src python benchmarks/cross_dataset_table.py /tmp/b0 [/tmp/b1 ...]

It reads metrics.json, models/*/info.json and external/<name>/{dataset.json,copies.csv}; it chooses
nothing (the external figures are final scores).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd


def _fmt(value, interval=None) -> str:
    if value is None:
        return "n/a"
    if interval and None not in interval:
        return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"
    return f"{value:.3f}"


def _metric(block: dict | None, key: str) -> tuple[float | None, list | None]:
    if not block:
        return None, None
    value = block.get(key)
    if value is None and key == "macro_f1":
        value = (block.get("macro") or {}).get("f1")
    return value, (block.get("intervals") or {}).get(key)


def _auc(block: dict | None) -> tuple[float | None, list | None]:
    binary = (block or {}).get("binary") or {}
    if not binary.get("defined", True) or "auc" not in binary:
        return None, None
    return binary["auc"], (binary.get("intervals") or {}).get("auc")


def _train_minutes(run: Path, model: str) -> float | None:
    info_path = run / "models" / model / "info.json"
    if not info_path.is_file():
        return None
    info = json.loads(info_path.read_text())
    names = info.get("members") or [model]
    seconds = 0.0
    for name in names:
        own = json.loads((run / "models" / name / "info.json").read_text())
        seconds += float(own.get("train_seconds") or 0) + float((own.get("refit") or {}).get("seconds") or 0)
    return seconds / 60


def remaining(run: Path, name: str) -> tuple[int, int, dict]:
    """(images, copies, images per class without copies) of external set `name`."""
    folder = run / "external" / name
    dataset = json.loads((folder / "dataset.json").read_text())
    counts = Counter(dataset.get("class_counts") or {})
    copies_path = folder / "copies.csv"
    if copies_path.is_file():
        copies = pd.read_csv(copies_path, keep_default_na=False)
        copies = copies.drop_duplicates("image")
        counts.subtract(Counter(copies["label"]))
        n_copies = len(copies)
    else:
        n_copies = 0
    return int(dataset.get("n_images") or 0), n_copies, dict(counts)


def rows_of(run: Path) -> tuple[list[dict], dict]:
    metrics = json.loads((run / "metrics.json").read_text())
    externals = metrics.get("external") or {}
    rows = []
    for model, own in metrics["models"].items():
        row = {"run": run.name, "model": model}
        for key in ("accuracy", "macro_f1"):
            row[f"test {key}"] = _metric(own, key)
            row[f"test {key} dedup"] = _metric(own.get("dedup"), key)
        for name, ext in externals.items():
            scored = (ext.get("models") or {}).get(model)
            if not scored:
                continue
            clean = scored.get("without_copies")
            if "no_tumor" in (ext.get("dataset") or {}).get("classes", []) and _auc(scored)[0] is not None \
                    and len((ext.get("dataset") or {}).get("classes", [])) == 2:
                row[f"{name} AUC"], row[f"{name} AUC no copies"] = _auc(scored), _auc(clean)
            else:
                row[f"{name} accuracy"] = _metric(scored, "accuracy")
                row[f"{name} accuracy no copies"] = _metric(clean, "accuracy")
                row[f"{name} macro_f1 no copies"] = _metric(clean, "macro_f1")
        row["train min"] = (_train_minutes(run, model), None)
        rows.append(row)
    counts = {name: remaining(run, name) for name in externals if (run / "external" / name / "dataset.json").is_file()}
    return rows, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    all_rows = []
    for run in args.runs:
        rows, counts = rows_of(run)
        all_rows += rows
        for name, (n, copies, left) in counts.items():
            print(f"{run.name}: {name}: {n} images, {copies} copy a training/validation image of the run; "
                  f"without copies: {sum(left.values())} ({', '.join(f'{k} {v}' for k, v in sorted(left.items()))})")
    columns = [c for c in dict.fromkeys(k for r in all_rows for k in r) if c not in ("run", "model")]
    print()
    print("| run | model | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for r in all_rows:
        cells = [_fmt(*r[c]) if c in r and c != "train min" else
                 (f"{r[c][0]:.1f}" if c in r and r[c][0] is not None else "n/a") for c in columns]
        print(f"| {r['run']} | {r['model']} | " + " | ".join(cells) + " |")
    if len(args.runs) > 1:
        print("\nmean ± sd over runs")
        print("| model | " + " | ".join(columns) + " |")
        print("|---|" + "---|" * len(columns))
        for model in dict.fromkeys(r["model"] for r in all_rows):
            mine = [r for r in all_rows if r["model"] == model]
            cells = []
            for c in columns:
                values = [r[c][0] for r in mine if c in r and r[c][0] is not None]
                cells.append(f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f} "
                             f"(n={len(values)})" if values else "n/a")
            print(f"| {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
