"""Evaluation: everything computed from predictions files, as dicts and dataclasses (no rendering).

The metric registry (`registry`, declarations in `catalogue`), point metrics (`classification`), curves,
confidence intervals (`bootstrap`, `rank`), paired comparisons (`paired`), calibration, multi-seed
summaries (`seeds`), the ranking and recommendation (`recommend`) and the per-model results the report,
the study, `tumorbench evaluate` and metrics.json all read (`assess`, `model_result`).

>>> from tumorbench.evaluation import compute_metrics  # doctest: +SKIP
>>> compute_metrics(read_predictions("predictions_test.csv"))["macro"]["f1"]  # doctest: +SKIP
"""

from tumorbench.evaluation import catalogue as _catalogue  # noqa: F401  (registers the metrics)
from tumorbench.evaluation.bootstrap import Replicates, bootstrap, intervals
from tumorbench.evaluation.classification import (
    LOSS_EPS,
    accuracy_score,
    classification_metrics,
    compute_metrics,
    cross_entropy_loss,
    labelled_arrays,
    macro_f1_score,
    predicted_classes,
    score_context,
)
from tumorbench.evaluation.curves import compute_roc_curves, pr_curve_points, roc_curve_points
from tumorbench.evaluation.mistakes import confident_mistakes
from tumorbench.evaluation.registry import Feature, MetricSpec, ScoreContext, metric, metrics, register, registered
from tumorbench.evaluation.settings import BootstrapSettings, EvaluationSettings, evaluation_settings
from tumorbench.evaluation.table import confusion_frame, intervals_table, metrics_table, per_class_table

__all__ = [
    "BootstrapSettings",
    "EvaluationSettings",
    "Feature",
    "LOSS_EPS",
    "MetricSpec",
    "Replicates",
    "ScoreContext",
    "accuracy_score",
    "bootstrap",
    "classification_metrics",
    "compute_metrics",
    "compute_roc_curves",
    "confident_mistakes",
    "confusion_frame",
    "cross_entropy_loss",
    "evaluation_settings",
    "intervals",
    "intervals_table",
    "labelled_arrays",
    "macro_f1_score",
    "metric",
    "metrics",
    "metrics_table",
    "per_class_table",
    "pr_curve_points",
    "predicted_classes",
    "register",
    "registered",
    "roc_curve_points",
    "score_context",
]
