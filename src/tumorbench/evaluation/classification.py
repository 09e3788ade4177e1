"""Classification metrics of one model from its predictions.

Two levels: `classification_metrics(y_true, probs)` works on arrays and fills in every metric of the
registry (`catalogue.py`) at its place in the dict; `compute_metrics(frame)` reads a predictions table
and adds the notes a report must show. scikit-learn does the arithmetic where it has the metric; this
module decides the edge cases and says what it decided. Intervals are added by `bootstrap.intervals`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.evaluation.catalogue import clipped_probs
from tumorbench.evaluation.declared import ScoreContext, metrics
from tumorbench.evaluation.settings import EvaluationSettings

_LABELS = np.arange(len(CLASS_NAMES))


def labelled_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (y_true class indices, probabilities (n, n_classes), notes) from a predictions table.

    Rows without a true label cannot be scored: they are left out and the note says how many.
    """
    missing = [c for c in ("label", *PROB_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"predictions table lacks columns {missing}; read it with read_predictions")
    labels = frame["label"].astype(str)
    known = (labels != "").to_numpy()
    source = frame.attrs.get("path", "the predictions")
    if not known.any():
        raise ValueError(
            f"{source}: no row has a true label, so there is nothing to score; evaluate the "
            "predictions of a labelled split (train, val or test)"
        )
    notes = []
    if not known.all():
        notes.append(
            f"{int((~known).sum())} of {len(frame)} images have no true label and were left out of "
            "the metrics."
        )
    index = {name: i for i, name in enumerate(CLASS_NAMES)}
    try:
        y_true = np.array([index[name] for name in labels[known]], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(
            f"{source}: unknown class {exc.args[0]!r} in column 'label'; valid classes: "
            f"{', '.join(CLASS_NAMES)}"
        ) from None
    probs = frame.loc[known, list(PROB_COLUMNS)].to_numpy(dtype=np.float64)
    return y_true, probs, notes


def predicted_classes(probs: np.ndarray) -> np.ndarray:
    """Index of the most probable class per row (ties go to the first class in CLASS_NAMES)."""
    return np.asarray(probs).argmax(axis=1)


def accuracy_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float((np.asarray(y_true) == predicted_classes(probs)).mean())


def cross_entropy_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy, probabilities clipped at LOSS_EPS (see there)."""
    p = clipped_probs(probs)[np.arange(len(y_true)), np.asarray(y_true)]
    return float(-np.log(p).mean())


def macro_f1_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(
        f1_score(y_true, predicted_classes(probs), labels=_LABELS, average="macro", zero_division=0)
    )


def score_context(y_true: np.ndarray, probs: np.ndarray, settings: EvaluationSettings | None = None) -> ScoreContext:
    """Checked arrays and the confusion matrix every metric function reads."""
    settings = settings or EvaluationSettings()
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(y_true), len(CLASS_NAMES)):
        raise ValueError(
            f"probabilities must have shape ({len(y_true)}, {len(CLASS_NAMES)}), got {probs.shape}"
        )
    if len(y_true) == 0:
        raise ValueError("no labelled predictions to score")
    y_pred = predicted_classes(probs)
    return ScoreContext(y_true=y_true, probs=probs, y_pred=y_pred,
                        confusion=confusion_matrix(y_true, y_pred, labels=_LABELS),
                        cost_matrix=settings.costs, bins=settings.calibration_bins)


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, *,
                           settings: EvaluationSettings | None = None) -> dict:
    """Every metric of the registry from class indices and probabilities, as a JSON-ready dict.

    Keys (a public contract, see metrics.json): n, confusion_matrix (counts, rows = true class, columns
    = predicted class, CLASS_NAMES order), confusion_matrix_normalized (rows sum to 1),
    per_class.<class>.{support, tp, fp, fn, tn} and every registered metric at its path (accuracy, loss,
    per_class.<class>.{precision, recall, f1, auc, ...}, weighted.{precision, recall, f1}, global_f1,
    macro.{precision, recall, f1, auc, ap}, micro_auc, ...), notes.

    >>> m = classification_metrics(np.array([0, 1]), np.array([[.9, .1, 0, 0], [.2, .8, 0, 0]]))
    >>> m["accuracy"], m["per_class"]["glioma"]["tp"]
    (1.0, 1)
    """
    ctx = score_context(y_true, probs, settings)
    counts = ctx.confusion
    n = len(ctx.y_true)
    row_sums = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)
    tp = np.diag(counts)
    fp = counts.sum(axis=0) - tp
    fn = counts.sum(axis=1) - tp
    support = counts.sum(axis=1)
    result: dict = {"n": n, "confusion_matrix": counts.tolist(), "confusion_matrix_normalized": normalized.tolist(),
                    "per_class": {name: {"support": int(support[k]), "tp": int(tp[k]), "fp": int(fp[k]),
                                         "fn": int(fn[k]), "tn": int(n - tp[k] - fp[k] - fn[k])}
                                  for k, name in enumerate(CLASS_NAMES)}}
    for spec in metrics():
        value = spec.point(ctx)
        if spec.per_class:
            for cls, v in zip(CLASS_NAMES, value):
                spec.put(result, None if v is None else float(v), cls)
        else:
            spec.put(result, None if value is None else float(value))

    notes = []
    never_predicted = [CLASS_NAMES[k] for k in _LABELS if tp[k] + fp[k] == 0 and support[k] > 0]
    if never_predicted:
        notes.append(
            f"Never predicted: {', '.join(never_predicted)}. Precision is undefined for a class that "
            "is never predicted; it is reported as 0 (and so is its F1)."
        )
    absent = [CLASS_NAMES[k] for k in _LABELS if support[k] == 0]
    if absent:
        defined = sum(result["per_class"][c]["auc"] is not None for c in CLASS_NAMES)
        notes.append(
            f"No true images of: {', '.join(absent)}. Their recall is reported as 0 and their AUC is "
            "undefined (left empty); the macro averages still count them, macro AUC averages the "
            f"{defined} classes whose AUC exists."
        )
    result["notes"] = notes
    return result


def compute_metrics(frame: pd.DataFrame, *, settings: EvaluationSettings | None = None) -> dict:
    """Metrics of one predictions table (see `classification_metrics` for the keys).

    `notes` gathers, in order, the corrections `read_predictions` made to the file, rows left out for
    lack of a label, and the metric decisions (never-predicted and absent classes).

        from tumorbench.predictions.io import read_predictions
        compute_metrics(read_predictions("predictions_test.csv"))["macro"]["f1"]
    """
    y_true, probs, notes = labelled_arrays(frame)
    metrics = classification_metrics(y_true, probs, settings=settings)
    metrics["notes"] = [*frame.attrs.get("notes", []), *notes, *metrics["notes"]]
    return metrics
