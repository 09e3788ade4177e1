"""Metrics dicts as pandas tables, for notebooks and for metrics.csv."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tumorbench.classes import CLASS_NAMES

_PER_CLASS_KEYS = ("precision", "recall", "f1", "support", "tp", "fp", "fn", "tn", "auc")


def metrics_table(metrics_by_model: Mapping[str, dict]) -> pd.DataFrame:
    """One row per model, flat columns (the layout of metrics.csv), index named `model`.

    Columns: n, accuracy, loss, global_f1, weighted_precision, weighted_recall, weighted_f1,
    macro_precision, macro_recall, macro_f1, macro_auc, micro_auc, then <class>_<key> for every class
    and key of per_class. Undefined AUCs are NaN.
    """
    rows = []
    for name, m in metrics_by_model.items():
        row = {"model": name, "n": m["n"], "accuracy": m["accuracy"], "loss": m["loss"],
               "global_f1": m["global_f1"]}
        row.update({f"weighted_{k}": v for k, v in m["weighted"].items()})
        row.update({f"macro_{k}": v for k, v in m["macro"].items()})
        row["micro_auc"] = m["micro_auc"]
        for cls in CLASS_NAMES:
            row.update({f"{cls}_{k}": m["per_class"][cls][k] for k in _PER_CLASS_KEYS})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    # None (undefined AUC) becomes NaN so the columns stay numeric.
    return table.apply(pd.to_numeric)


def per_class_table(metrics: dict) -> pd.DataFrame:
    """The classification report of one model: one row per class, columns precision ... auc."""
    frame = pd.DataFrame.from_dict(metrics["per_class"], orient="index").loc[list(CLASS_NAMES)]
    frame.index.name = "class"
    return frame.loc[:, list(_PER_CLASS_KEYS)].apply(pd.to_numeric)


def confusion_frame(metrics: dict, *, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix as a labelled table (rows: true class, columns: predicted class)."""
    key = "confusion_matrix_normalized" if normalize else "confusion_matrix"
    frame = pd.DataFrame(metrics[key], index=list(CLASS_NAMES), columns=list(CLASS_NAMES))
    frame.index.name, frame.columns.name = "true", "predicted"
    return frame
