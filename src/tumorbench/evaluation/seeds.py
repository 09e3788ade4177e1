"""Models trained several times with different seeds: grouping, mean ± sd, and who beats whom.

A run trained with `--seeds N` (and every imbalance-study cell) names its replicas `<model>.seed<k>`;
the plain name is seed 0 (`models/model_1/`, `models/model_1.seed1/`, ...). The study's
`model_1.oversample.seed1` is seed 1 of `model_1.oversample`. The bootstrap interval of one training
says how much the test images could move a score; the spread over seeds says how much training itself
(initialisation, data order) moves it. A report shows both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np
import pandas as pd

SEED_SUFFIX = re.compile(r"^(?P<group>.+)\.seed(?P<seed>\d+)$")


def replica_name(model: str, seed_index: int) -> str:
    """Folder name of a model's seed replica: the plain name for seed 0, `<model>.seed<k>` otherwise."""
    return model if seed_index == 0 else f"{model}.seed{seed_index}"


def split_seed(name: str) -> tuple[str, int]:
    """(group, seed index) of a model folder name.

    >>> split_seed("model_1.seed2"), split_seed("model_1"), split_seed("model_1.none.seed0")
    (('model_1', 2), ('model_1', 0), ('model_1.none', 0))
    """
    match = SEED_SUFFIX.match(name)
    return (match["group"], int(match["seed"])) if match else (name, 0)


def seed_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Model names by group, in first-seen order, each group sorted by seed index."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        group, seed = split_seed(name)
        groups.setdefault(group, []).append((seed, name))
    return {g: [n for _, n in sorted(members)] for g, members in groups.items()}


def mean_sd_rows(frame: pd.DataFrame, by: list[str], metric_cols: Sequence[str]) -> list[dict]:
    """One row per group of `by`: `seeds` and, per metric, `<col>.mean`, `<col>.sd` (ddof=1; 0 for one
    seed) and `<col>.range` (max - min). Shared by the run report and the imbalance study."""
    rows = []
    for keys, group in frame.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = {**dict(zip(by, keys)), "seeds": len(group)}
        for col in metric_cols:
            values = pd.to_numeric(group[col], errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if not len(values):
                row[f"{col}.mean"] = row[f"{col}.sd"] = row[f"{col}.range"] = None
                continue
            row[f"{col}.mean"] = float(values.mean())
            row[f"{col}.sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            row[f"{col}.range"] = float(values.max() - values.min())
        rows.append(row)
    return rows


def beats_share(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> float:
    """Share of the seed pairs (every seed of a with every seed of b) where a beats b; ties count half."""
    wins = 0.0
    for x, y in product(a, b):
        if x == y:
            wins += 0.5
        elif (x > y) == higher_is_better:
            wins += 1
    return wins / (len(a) * len(b))


def seed_summary(metrics_by_model: Mapping[str, dict], specs, *, ranking_key: str = "macro_f1") -> dict | None:
    """Mean ± sd over seeds of each group with more than one seed, and for each pair of groups the share
    of seed pairs where the first beats the second on `ranking_key`. None when no model has replicas.

    `specs` are the registry metrics to summarise (overall ones)."""
    groups = seed_groups(list(metrics_by_model))
    if all(len(members) < 2 for members in groups.values()):
        return None
    records = []
    for group, members in groups.items():
        for name in members:
            record = {"group": group, "model": name, "seed": split_seed(name)[1]}
            record.update({spec.key: spec.get(metrics_by_model[name]) for spec in specs})
            records.append(record)
    frame = pd.DataFrame(records)
    rows = mean_sd_rows(frame, ["group"], [spec.key for spec in specs])
    ranking = next(spec for spec in specs if spec.key == ranking_key)
    values = {g: [ranking.get(metrics_by_model[n]) for n in members] for g, members in groups.items()}
    pairs = []
    for a, b in product(groups, groups):
        if a != b:
            pairs.append({"a": a, "b": b, "metric": ranking_key, "pairs": len(values[a]) * len(values[b]),
                          "share": beats_share(values[a], values[b], higher_is_better=ranking.higher_is_better)})
    return {"groups": {g: members for g, members in groups.items()}, "rows": rows, "pairs": pairs,
            "metrics": [spec.key for spec in specs], "ranking_metric": ranking_key}
