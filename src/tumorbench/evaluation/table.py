"""Metrics dicts as pandas tables, for notebooks and for metrics.csv (columns from the metric registry)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.declared import metrics

_COUNT_KEYS = ("support", "tp", "fp", "fn", "tn")


def _per_class_keys() -> list[str]:
    """precision, recall, f1 first (the classification report), then the counts, then the rest."""
    specs = [m for m in metrics(per_class=True)]
    head = [m.path[-1] for m in specs[:3]]
    return head + list(_COUNT_KEYS) + [m.path[-1] for m in specs[3:]]


def metrics_table(metrics_by_model: Mapping[str, dict]) -> pd.DataFrame:
    """One row per model, flat columns (the layout of metrics.csv), index named `model`.

    Columns: n, then every overall metric of the registry by its key (accuracy, loss, weighted_f1,
    macro_f1, ...), then <class>_<key> for every class and per-class key (precision ... auc, ap, ...).
    Undefined values (an AUC without positives) are NaN.
    """
    rows = []
    for name, m in metrics_by_model.items():
        row = {"model": name, "n": m["n"]}
        row.update({spec.column(): spec.get(m) for spec in metrics(overall=True)})
        for cls in m.get("present_classes", CLASS_NAMES):
            row.update({f"{cls}_{k}": m["per_class"][cls].get(k) for k in _per_class_keys()})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    # None (undefined AUC) becomes NaN so the columns stay numeric.
    return table.apply(pd.to_numeric)


def intervals_table(metrics_by_model: Mapping[str, dict]) -> pd.DataFrame:
    """One row per model: `<column>_low` and `<column>_high` for every metric with an interval (the
    `intervals` that `assess` adds); empty columns when none were computed."""
    rows = []
    for name, m in metrics_by_model.items():
        row = {"model": name}
        for column, ci in (m.get("intervals") or {}).items():
            row[f"{column}_low"], row[f"{column}_high"] = ci if ci is not None else (None, None)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").apply(pd.to_numeric)


def per_class_table(metrics: dict) -> pd.DataFrame:
    """The classification report of one model: one row per class, columns precision ... auc, ap, ..."""
    frame = pd.DataFrame.from_dict(metrics["per_class"], orient="index").loc[list(metric_rows(metrics))]
    frame.index.name = "class"
    return frame.loc[:, _per_class_keys()].apply(pd.to_numeric)


def metric_rows(metrics: dict) -> list[str]:
    """The true classes a metrics dict scores (confusion-matrix rows, per_class keys): its present classes."""
    return list(metrics.get("present_classes", CLASS_NAMES))


def metric_columns(metrics: dict) -> list[str]:
    """The model's classes of a metrics dict (confusion-matrix columns)."""
    return list(metrics.get("classes", CLASS_NAMES))


def confusion_frame(metrics: dict, *, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix as a labelled table (rows: present true class, columns: the model's classes)."""
    key = "confusion_matrix_normalized" if normalize else "confusion_matrix"
    frame = pd.DataFrame(metrics[key], index=metric_rows(metrics), columns=metric_columns(metrics))
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame
