"""Metrics of classifiers from predictions tables (kept for notebooks and the README's examples; the
code lives in `tumorbench.evaluation`).

    from tumorbench.predictions.io import read_predictions
    frame = read_predictions("run/models/resnet18/predictions_test.csv")
    m = compute_metrics(frame); m["macro"]["f1"], m["per_class"]["glioma"]["recall"]
"""

from tumorbench.evaluation import (
    LOSS_EPS,
    accuracy_score,
    classification_metrics,
    compute_metrics,
    compute_roc_curves,
    confident_mistakes,
    confusion_frame,
    cross_entropy_loss,
    labelled_arrays,
    macro_f1_score,
    metrics_table,
    per_class_table,
    predicted_classes,
    roc_curve_points,
)

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
