"""Evaluation: everything computed from predictions files, as dicts and dataclasses (no rendering).

The metric registry (`registry`, declarations in `catalogue`), point metrics (`classification`), curves,
confidence intervals (`bootstrap`, `rank`), paired comparisons (`paired`), calibration, multi-seed
summaries (`seeds`), the tumour vs no tumour view (`binary`) and its operating points
(`operating_points`), the ranking and recommendation (`recommend`) and the per-model results the report,
the study, `tumorbench evaluate` and metrics.json all read (`assess`, `model_result`), and predictions
files read, checked to cover the same images and evaluated into those results (`files`).

    from tumorbench.evaluation import compute_metrics
    compute_metrics(read_predictions("predictions_test.csv"))["macro"]["f1"]
"""

import importlib

# Loaded on first use (PEP 562), so that `tumorbench.config` can read the evaluation settings without
# importing scikit-learn, scipy and statsmodels into every command.
_EXPORTS = {
    "binary_table": "binary", "binary_view": "binary",
    "choose_threshold": "operating_points", "operating_points": "operating_points",
    "operating_points_table": "operating_points",
    "Replicates": "bootstrap", "bootstrap": "bootstrap", "intervals": "bootstrap",
    "LOSS_EPS": "catalogue",
    "accuracy_score": "classification", "classification_metrics": "classification",
    "compute_metrics": "classification", "cross_entropy_loss": "classification",
    "labelled_arrays": "classification", "macro_f1_score": "classification",
    "predicted_classes": "classification", "score_context": "classification",
    "compute_roc_curves": "curves", "pr_curve_points": "curves", "roc_curve_points": "curves",
    "confident_mistakes": "mistakes",
    "default_name": "files", "evaluate_predictions": "files",
    "Feature": "declared", "MetricSpec": "declared", "ScoreContext": "declared", "metric": "declared",
    "metrics": "declared", "register": "declared", "registered": "declared",
    "BootstrapSettings": "settings", "EvaluationSettings": "settings", "evaluation_settings": "settings",
    "confusion_frame": "table", "intervals_table": "table", "metrics_table": "table", "per_class_table": "table",
    "Assessment": "assess", "assess": "assess",
    "Comparison": "paired", "PairedTest": "paired", "compare_models": "paired",
    "seed_summary": "seeds", "split_seed": "seeds",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tumorbench.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tumorbench.evaluation.{_EXPORTS[name]}"), name)
