"""One-vs-rest ROC and precision-recall curves: the points the figures draw (AUC and AP live in the metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.classification import labelled_arrays
from tumorbench.predictions.io import frame_classes


def roc_curve_points(y_true: np.ndarray, probs: np.ndarray, classes=CLASS_NAMES) -> dict:
    """ROC points per class (None when the class has no positives or no negatives), micro and macro.

    Returns {"per_class": {class: {"fpr": [...], "tpr": [...]} | None}, "micro": {...}, "macro": {...}}.
    The macro curve is the mean TPR of the defined classes on the union of their FPR values, as in
    scikit-learn's multiclass ROC example.
    """
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    per_class: dict[str, dict | None] = {}
    for k, name in enumerate(classes):
        positives = int((y_true == k).sum())
        if positives == 0 or positives == len(y_true):
            per_class[name] = None
            continue
        fpr, tpr, _ = roc_curve(y_true == k, probs[:, k])
        per_class[name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}

    onehot = (y_true[:, None] == np.arange(len(classes))[None, :]).astype(int)
    fpr, tpr, _ = roc_curve(onehot.ravel(), probs.ravel())
    micro = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}

    defined = [c for c in per_class.values() if c is not None]
    if defined:
        grid = np.unique(np.concatenate([c["fpr"] for c in defined]))
        mean_tpr = np.mean([np.interp(grid, c["fpr"], c["tpr"]) for c in defined], axis=0)
        macro = {"fpr": grid.tolist(), "tpr": mean_tpr.tolist()}
    else:
        macro = None
    return {"per_class": per_class, "micro": micro, "macro": macro}


def pr_curve_points(y_true: np.ndarray, probs: np.ndarray, classes=CLASS_NAMES) -> dict:
    """Precision-recall points per class ({class: {"recall": [...], "precision": [...]} | None when the
    class has no positives}) and the class's share of images (the curve of a random classifier)."""
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    per_class: dict[str, dict | None] = {}
    for k, name in enumerate(classes):
        if not (y_true == k).any():
            per_class[name] = None
            continue
        precision, recall, _ = precision_recall_curve(y_true == k, probs[:, k])
        per_class[name] = {"recall": recall.tolist(), "precision": precision.tolist(),
                           "prevalence": float((y_true == k).mean())}
    return {"per_class": per_class}


def compute_roc_curves(frame: pd.DataFrame) -> dict:
    """`roc_curve_points` of a predictions table (unlabelled rows left out, as in the metrics)."""
    y_true, probs, _ = labelled_arrays(frame)
    return roc_curve_points(y_true, probs, frame_classes(frame))
