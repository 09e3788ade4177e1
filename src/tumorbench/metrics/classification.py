"""Classification metrics of one model from its predictions.

Two levels: `classification_metrics(y_true, probs)` works on arrays, so a later statistics step can call
it (or the `*_score`/`*_loss` functions) on bootstrap resamples and paired permutations;
`compute_metrics(frame)` reads a predictions table and adds the notes a report must show.
scikit-learn does the arithmetic; this module decides the edge cases and says what it decided.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score as _sk_accuracy,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS

# Probabilities are clipped to [LOSS_EPS, 1] before the log: Keras' epsilon, so the loss is on the same
# scale as the seed notebook's `model.evaluate` loss, and one confidently wrong image (p = 0 gives an
# infinite loss) cannot dominate the mean.
LOSS_EPS = 1e-7

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
    return float(_sk_accuracy(y_true, predicted_classes(probs)))


def cross_entropy_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy, probabilities clipped at LOSS_EPS (see there)."""
    clipped = np.clip(np.asarray(probs, dtype=np.float64), LOSS_EPS, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return float(log_loss(y_true, clipped, labels=_LABELS))


def macro_f1_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(
        f1_score(y_true, predicted_classes(probs), labels=_LABELS, average="macro", zero_division=0)
    )


def _class_auc(y_true: np.ndarray, probs: np.ndarray, k: int) -> float | None:
    positives = int((y_true == k).sum())
    # One-vs-rest AUC needs both positives and negatives of class k; otherwise it does not exist.
    if positives == 0 or positives == len(y_true):
        return None
    return float(roc_auc_score(y_true == k, probs[:, k]))


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Every metric of the benchmark from class indices and probabilities, as a JSON-ready dict.

    Keys (a public contract, see metrics.json): n, accuracy, loss, confusion_matrix (counts, rows =
    true class, columns = predicted class, CLASS_NAMES order), confusion_matrix_normalized (rows sum
    to 1), per_class.<class>.{precision, recall, f1, support, tp, fp, fn, tn, auc}, weighted.{precision,
    recall, f1}, global_f1, macro.{precision, recall, f1, auc}, micro_auc, notes.

    >>> m = classification_metrics(np.array([0, 1]), np.array([[.9, .1, 0, 0], [.2, .8, 0, 0]]))
    >>> m["accuracy"], m["per_class"]["glioma"]["tp"]
    (1.0, 1)
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(y_true), len(CLASS_NAMES)):
        raise ValueError(
            f"probabilities must have shape ({len(y_true)}, {len(CLASS_NAMES)}), got {probs.shape}"
        )
    if len(y_true) == 0:
        raise ValueError("no labelled predictions to score")
    y_pred = predicted_classes(probs)
    n = len(y_true)

    counts = confusion_matrix(y_true, y_pred, labels=_LABELS)
    row_sums = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)
    tp = np.diag(counts)
    fp = counts.sum(axis=0) - tp
    fn = counts.sum(axis=1) - tp
    tn = n - tp - fp - fn

    # zero_division=0 is the decision the report states: a class never predicted has precision 0
    # (and a class never present has recall 0). Passing it explicitly also keeps scikit-learn quiet.
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=_LABELS, zero_division=0
    )
    w_precision, w_recall, w_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=_LABELS, average="weighted", zero_division=0
    )
    m_precision, m_recall, m_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=_LABELS, average="macro", zero_division=0
    )
    aucs = [_class_auc(y_true, probs, k) for k in _LABELS]
    defined = [a for a in aucs if a is not None]
    onehot = (y_true[:, None] == _LABELS[None, :]).astype(int)
    micro_auc = float(roc_auc_score(onehot, probs, average="micro"))

    notes = []
    never_predicted = [CLASS_NAMES[k] for k in _LABELS if tp[k] + fp[k] == 0 and support[k] > 0]
    if never_predicted:
        notes.append(
            f"Never predicted: {', '.join(never_predicted)}. Precision is undefined for a class that "
            "is never predicted; it is reported as 0 (and so is its F1)."
        )
    absent = [CLASS_NAMES[k] for k in _LABELS if support[k] == 0]
    if absent:
        notes.append(
            f"No true images of: {', '.join(absent)}. Their recall is reported as 0 and their AUC is "
            "undefined (left empty); the macro averages still count them, macro AUC averages the "
            f"{len(defined)} classes whose AUC exists."
        )

    return {
        "n": n,
        "accuracy": accuracy_score(y_true, probs),
        "loss": cross_entropy_loss(y_true, probs),
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalized": normalized.tolist(),
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
                "tp": int(tp[k]),
                "fp": int(fp[k]),
                "fn": int(fn[k]),
                "tn": int(tn[k]),
                "auc": aucs[k],
            }
            for k, name in enumerate(CLASS_NAMES)
        },
        # weighted.f1 is scikit-learn's "weighted avg" F1: the support-weighted mean of per-class F1.
        "weighted": {"precision": float(w_precision), "recall": float(w_recall), "f1": float(w_f1)},
        # The seed notebook's "F1 global": the harmonic mean of weighted precision and weighted recall.
        "global_f1": _harmonic_mean(float(w_precision), float(w_recall)),
        "macro": {
            "precision": float(m_precision),
            "recall": float(m_recall),
            "f1": float(m_f1),
            "auc": float(np.mean(defined)) if defined else None,
        },
        "micro_auc": micro_auc,
        "notes": notes,
    }


def _harmonic_mean(a: float, b: float) -> float:
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def compute_metrics(frame: pd.DataFrame) -> dict:
    """Metrics of one predictions table (see `classification_metrics` for the keys).

    `notes` gathers, in order, the corrections `read_predictions` made to the file, rows left out for
    lack of a label, and the metric decisions (never-predicted and absent classes).

    >>> from tumorbench.predictions.io import read_predictions  # doctest: +SKIP
    >>> compute_metrics(read_predictions("predictions_test.csv"))["macro"]["f1"]  # doctest: +SKIP
    """
    y_true, probs, notes = labelled_arrays(frame)
    metrics = classification_metrics(y_true, probs)
    metrics["notes"] = [*frame.attrs.get("notes", []), *notes, *metrics["notes"]]
    return metrics
