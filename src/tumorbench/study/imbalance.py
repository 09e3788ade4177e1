"""The class-imbalance study: models x balancing strategies x seeds in one run folder.

Each cell of the grid is an ordinary model folder of the run (`<model>.<strategy>.seed<k>`), so the
study restarts where it stopped (finished cells are kept) and every cell has the usual checkpoint,
history and predictions. The split is the run's (fixed by the run seed); the cell seed changes the
initialisation and the data order, which is the seed-to-seed spread the summary compares against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tumorbench._io import atomic_write, read_json, write_json
from tumorbench.classes import CLASS_NAMES
from tumorbench.config import ModelConfig, RunConfig, make_config
from tumorbench.data.balance import STRATEGIES, check_strategy
from tumorbench.evaluation.classification import compute_metrics
from tumorbench.evaluation.declared import metrics
from tumorbench.evaluation.seeds import mean_sd_rows
from tumorbench.evaluation.table import metric_rows
from tumorbench.predictions.io import read_predictions
from tumorbench.run import ModelsFailed, run_benchmark
from tumorbench.runfolder import (
    INFO_FILE,
    RunFolder,
    model_is_complete,
    predictions_file,
)
from tumorbench.study.replicas import check_seeds, model_cell
from tumorbench.study.summary_keys import study_classes

CELL = re.compile(r"^(?P<model>.+)\.(?P<strategy>[a-z_]+)\.seed(?P<seed>\d+)$")


def cell_name(model: str, strategy: str, seed: int) -> str:
    return f"{model}.{strategy}.seed{seed}"


def imbalance_config(base: RunConfig, *, models: Sequence[str], strategies: Sequence[str], seeds: int) -> RunConfig:
    """`base` with its models replaced by the grid models x strategies x seeds."""
    check_seeds(seeds)
    for s in strategies:
        check_strategy(s)
    overrides = {m.name: m for m in base.models}
    cells = []
    for model in models:
        own = overrides.get(model, ModelConfig(model))
        for strategy in strategies:
            for k in range(seeds):
                cells.append(model_cell(own, name=cell_name(model, strategy, k), seed=base.seed + k,
                                        balance=strategy))
    data = base.to_dict()
    data["models"] = cells
    return make_config(data)


def run_imbalance_study(config: RunConfig, *, data_root: Path, out: Path, executor=None, tracker=None) -> Path:
    """Train every unfinished cell (finished ones are kept), then write the study summary.

    `executor` trains the cells (see `tumorbench.executors`; default: one after the other here)."""
    resume = RunFolder(out).config.is_file()
    try:
        run_benchmark(config, data_root=data_root, out=out, resume=resume, executor=executor, tracker=tracker,
                      unit="cell")
    except ModelsFailed as failed:
        # The finished cells still make a summary; the caller reports the failed ones.
        if len(failed.failures) < failed.n_models:
            _write_summary(out)
        raise
    _write_summary(out)
    return out


def _write_summary(out: Path) -> None:
    summary = summarize_imbalance(out)
    write_json(RunFolder(out).study_summary, summary)
    frame = pd.DataFrame(summary["rows"])
    atomic_write(RunFolder(out).study_table, lambda p: frame.to_csv(p, index=False))


def _cell_metrics(folder: Path) -> dict:
    m = compute_metrics(read_predictions(predictions_file(folder, "test")))
    out = {spec.key: spec.get(m) for spec in metrics(where="study", overall=True)}
    for c in metric_rows(m):
        for spec in metrics(where="study", per_class=True):
            out[f"{c}.{spec.key}"] = spec.get(m, c)
    return out


def summarize_imbalance(run_dir: Path) -> dict:
    """Mean and spread over seeds per (model, strategy), and the comparison of each strategy with
    `none`: which classes it helped, and whether the change is larger than the seed-to-seed spread
    (|difference of means| greater than the larger of the two strategies' seed ranges)."""
    cells = []
    for folder in RunFolder(run_dir).model_folders():
        match = CELL.match(folder.name)
        if not match or not model_is_complete(folder):
            continue
        info = read_json(folder / INFO_FILE)
        cells.append({"model": match["model"], "strategy": match["strategy"], "seed": int(match["seed"]),
                      **_cell_metrics(folder), "_info": info})
    if not cells:
        raise ValueError(f"{run_dir}: no finished study cells (models/<model>.<strategy>.seed<k>/); "
                         "run `tumorbench study imbalance` to train them")
    frame = pd.DataFrame([{k: v for k, v in c.items() if k != "_info"} for c in cells])
    metric_cols = [c for c in frame.columns if c not in ("model", "strategy", "seed")]
    rows = mean_sd_rows(frame, ["model", "strategy"], metric_cols)
    order = {s: i for i, s in enumerate(STRATEGIES)}
    rows.sort(key=lambda r: (r["model"], order.get(r["strategy"], 99)))
    counts = _class_counts(cells)
    return {"rows": rows, "cells": frame.to_dict("records"), "counts": counts,
            "comparisons": _compare_with_none(rows),
            "rule": "a change counts as larger than the seed-to-seed spread when the difference of the "
                    "means exceeds the larger of the two strategies' ranges over seeds"}


def _class_counts(cells: list[dict]) -> list[dict]:
    """Per (model, strategy): training counts, what one epoch showed the loss, and class weights."""
    seen: dict[tuple, dict] = {}
    for c in cells:
        key = (c["model"], c["strategy"])
        if key in seen:
            continue
        info = c["_info"]
        seen[key] = {"model": c["model"], "strategy": c["strategy"],
                     "before": info.get("train_class_counts"), "after": info.get("epoch_class_counts"),
                     "class_weights": (dict(zip(info.get("classes") or CLASS_NAMES, info["class_weights"]))
                                       if info.get("class_weights") else None)}
    return list(seen.values())


def _compare_with_none(rows: list[dict]) -> list[dict]:
    by_key = {(r["model"], r["strategy"]): r for r in rows}
    out = []
    for r in rows:
        ref = by_key.get((r["model"], "none"))
        if ref is None or r["strategy"] == "none":
            continue
        classes = study_classes(r)
        keys = [f"{c}.recall" for c in classes] + [f"{c}.f1" for c in classes] + ["macro_f1", "accuracy"]
        for key in keys:
            diff = r[f"{key}.mean"] - ref[f"{key}.mean"]
            spread = max(r[f"{key}.range"], ref[f"{key}.range"])
            out.append({"model": r["model"], "strategy": r["strategy"], "metric": key, "difference": diff,
                        "spread": spread,
                        "beyond_spread": bool(abs(diff) > spread and min(r["seeds"], ref["seeds"]) > 1)})
    return out


def imbalance_section(summary: dict):
    """The report section of the study (a `tumorbench.report.Section`)."""
    from tumorbench.study._render import render_section

    return render_section(summary)
