"""Metrics of classifiers from predictions tables: dicts for metrics.json, DataFrames for notebooks.

>>> from tumorbench.predictions.io import read_predictions  # doctest: +SKIP
>>> frame = read_predictions("run/models/resnet18/predictions_test.csv")  # doctest: +SKIP
>>> m = compute_metrics(frame); m["macro"]["f1"], m["per_class"]["glioma"]["recall"]  # doctest: +SKIP
"""

from tumorbench.metrics.classification import (
    LOSS_EPS,
    accuracy_score,
    classification_metrics,
    compute_metrics,
    cross_entropy_loss,
    labelled_arrays,
    macro_f1_score,
    predicted_classes,
)
from tumorbench.metrics.curves import compute_roc_curves, roc_curve_points
from tumorbench.metrics.mistakes import confident_mistakes
from tumorbench.metrics.table import confusion_frame, metrics_table, per_class_table

__all__ = [
    "LOSS_EPS",
    "accuracy_score",
    "classification_metrics",
    "compute_metrics",
    "compute_roc_curves",
    "confident_mistakes",
    "confusion_frame",
    "cross_entropy_loss",
    "labelled_arrays",
    "macro_f1_score",
    "metrics_table",
    "per_class_table",
    "predicted_classes",
    "roc_curve_points",
]
