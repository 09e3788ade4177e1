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

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.catalogue import clipped_probs
from tumorbench.evaluation.declared import ScoreContext, metrics
from tumorbench.evaluation.settings import EvaluationSettings
from tumorbench.predictions.io import frame_classes, prob_columns


class NotScorableError(ValueError):
    """The model's classes share nothing with the true labels: the multiclass view cannot score it."""


def labelled_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (y_true class indices, probabilities (n, n_classes), notes) from a predictions table; the
    classes are the table's (`frame_classes`: the model's).

    Rows without a true label cannot be scored, nor rows whose label is no class of the model (a `tumor`
    label for a four-class model: the binary view scores those): they are left out and a note says how
    many. NotScorableError when no row is left although some have labels.
    """
    classes = frame_classes(frame)
    if "label" not in frame.columns or len(classes) < 2:
        raise ValueError("predictions table lacks the label or prob_<class> columns; read it with read_predictions")
    labels = frame["label"].astype(str)
    labelled = (labels != "").to_numpy()
    known = labelled & labels.isin(classes).to_numpy()
    source = frame.attrs.get("path", "the predictions")
    if not labelled.any():
        raise ValueError(
            f"{source}: no row has a true label, so there is nothing to score; evaluate the "
            "predictions of a labelled split (train, val or test)"
        )
    other = labels[labelled & ~known]
    if not known.any():
        raise NotScorableError(
            f"{source}: not scorable in the multiclass view: the model's classes ({', '.join(classes)}) share "
            f"nothing with the true labels ({', '.join(sorted(set(other)))}); score it on a dataset with its "
            "classes, or map the dataset's folders onto them (--class-map)")
    notes = []
    if (~labelled).any():
        notes.append(
            f"{int((~labelled).sum())} of {len(frame)} images have no true label and were left out of "
            "the metrics."
        )
    if len(other):
        counts = ", ".join(f"{n} {name}" for name, n in other.value_counts().sort_index().items())
        notes.append(
            f"{len(other)} of {len(frame)} images have a true label that is no class of the model ({counts}; "
            f"the model's classes: {', '.join(classes)}) and cannot be scored in the multiclass view: they "
            "were left out of these metrics."
        )
    index = {name: i for i, name in enumerate(classes)}
    y_true = np.array([index[name] for name in labels[known]], dtype=np.int64)
    probs = frame.loc[known, prob_columns(classes)].to_numpy(dtype=np.float64)
    return y_true, probs, notes


def predicted_classes(probs: np.ndarray) -> np.ndarray:
    """Index of the most probable class per row (ties go to the first of the model's classes)."""
    return np.asarray(probs).argmax(axis=1)


def accuracy_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float((np.asarray(y_true) == predicted_classes(probs)).mean())


def cross_entropy_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy, probabilities clipped at LOSS_EPS (see there)."""
    p = clipped_probs(probs)[np.arange(len(y_true)), np.asarray(y_true)]
    return float(-np.log(p).mean())


def macro_f1_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Macro F1 over the classes present among `y_true` (predictions of other classes count as errors)."""
    present = np.unique(np.asarray(y_true))
    return float(f1_score(y_true, predicted_classes(probs), labels=present, average="macro", zero_division=0))


def score_context(y_true: np.ndarray, probs: np.ndarray, settings: EvaluationSettings | None = None, *,
                  classes=CLASS_NAMES) -> ScoreContext:
    """Checked arrays and the confusion matrix every metric function reads; `classes` names the columns
    of `probs` (the model's classes)."""
    settings = settings or EvaluationSettings()
    classes = tuple(classes)
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(y_true), len(classes)):
        raise ValueError(
            f"probabilities must have shape ({len(y_true)}, {len(classes)}), got {probs.shape}"
        )
    if len(y_true) == 0:
        raise ValueError("no labelled predictions to score")
    y_pred = predicted_classes(probs)
    return ScoreContext(y_true=y_true, probs=probs, y_pred=y_pred,
                        confusion=confusion_matrix(y_true, y_pred, labels=np.arange(len(classes))),
                        cost_matrix=settings.costs_for(classes), bins=settings.calibration_bins, classes=classes)


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, *,
                           settings: EvaluationSettings | None = None, classes=CLASS_NAMES) -> dict:
    """Every metric of the registry from class indices and probabilities, as a JSON-ready dict.

    `classes` names the columns of `probs`, the model's classes (default: the seed's four). Only the
    classes with a true image ("present") are scored per class and averaged in the macro metrics; a
    class of the model with no true image ("absent") keeps its confusion-matrix column, since images
    predicted as it are errors and count in accuracy and the present classes' recall.

    Keys (a public contract, see metrics.json): n, classes (the model's: confusion-matrix columns),
    present_classes (confusion-matrix rows, per_class keys), absent_classes, confusion_matrix (counts,
    rows = present true class, columns = predicted class), confusion_matrix_normalized (rows sum to 1),
    per_class.<class>.{support, tp, fp, fn, tn} and every registered metric at its path (accuracy, loss,
    per_class.<class>.{precision, recall, f1, auc, ...}, weighted.{precision, recall, f1}, global_f1,
    macro.{precision, recall, f1, auc, ap}, micro_auc, ...), notes.

    >>> m = classification_metrics(np.array([0, 1]), np.array([[.9, .1, 0, 0], [.2, .8, 0, 0]]))
    >>> m["accuracy"], m["per_class"]["glioma"]["tp"], m["absent_classes"]
    (1.0, 1, ['no_tumor', 'pituitary'])
    """
    ctx = score_context(y_true, probs, settings, classes=classes)
    classes = ctx.classes
    counts = ctx.confusion
    n = len(ctx.y_true)
    row_sums = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)
    tp = np.diag(counts)
    fp = counts.sum(axis=0) - tp
    fn = counts.sum(axis=1) - tp
    support = counts.sum(axis=1)
    rows = np.flatnonzero(ctx.present)
    present = [classes[k] for k in rows]
    absent = [c for k, c in enumerate(classes) if not ctx.present[k]]
    result: dict = {"n": n, "classes": list(classes), "present_classes": present, "absent_classes": absent,
                    "confusion_matrix": counts[rows].tolist(), "confusion_matrix_normalized": normalized[rows].tolist(),
                    "per_class": {classes[k]: {"support": int(support[k]), "tp": int(tp[k]), "fp": int(fp[k]),
                                               "fn": int(fn[k]), "tn": int(n - tp[k] - fp[k] - fn[k])}
                                  for k in rows}}
    for spec in metrics():
        value = spec.point(ctx)
        if spec.per_class:
            for k, (cls, v) in enumerate(zip(classes, value)):
                if ctx.present[k]:
                    spec.put(result, None if v is None else float(v), cls)
        else:
            spec.put(result, None if value is None else float(value))

    notes = []
    never_predicted = [c for c in present if result["per_class"][c]["tp"] + result["per_class"][c]["fp"] == 0]
    if never_predicted:
        notes.append(
            f"Never predicted: {', '.join(never_predicted)}. Precision is undefined for a class that "
            "is never predicted; it is reported as 0 (and so is its F1)."
        )
    if absent:
        called = {c: int(counts[:, k].sum()) for k, c in enumerate(classes) if not ctx.present[k]}
        notes.append(
            f"Classes of the model absent from these images: {', '.join(absent)}. They are left out of the "
            f"per-class metrics and the macro averages (over the {len(present)} present classes: "
            f"{', '.join(present)}); images predicted as them are errors and count "
            f"({', '.join(f'{n} predicted {c}' for c, n in called.items())})."
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
    metrics = classification_metrics(y_true, probs, settings=settings, classes=frame_classes(frame))
    metrics["notes"] = [*frame.attrs.get("notes", []), *notes, *metrics["notes"]]
    return metrics
