"""The binary view of any model: tumour vs no tumour (docs/binary-view.md).

A model whose classes include no_tumor and at least one tumour class (`classes.TUMOR_CLASSES`) answers a
screening question too: does this image show a tumour? Its P(tumour) is the sum of its tumour-class
probabilities (equal to 1 - P(no_tumor) for probabilities that sum to 1, which `read_predictions`
ensures; the sum is the one used because it is what the model says about tumours, whatever rounding is in
a file). An image is called "tumour" when P(tumour) >= `evaluation.binary_threshold` (0.5 by default).
Every image whose label says tumour or no tumour (`classes.is_tumor`) is scored, so a four-class model is
scored on a yes/no dataset whose labels are mapped onto tumor / no_tumor.

Sensitivity, specificity, accuracy, PPV and NPV get stratified bootstrap intervals (`ratios.py`, the
resampling of `bootstrap.py`, within each true label); the AUC of P(tumour) gets DeLong's interval
(`rank.py`), as the per-class AUCs do. When the view is undefined, `binary_view` says why in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tumorbench.classes import NO_TUMOR, TUMOR_CLASSES, is_tumor
from tumorbench.evaluation.bootstrap import delta_interval
from tumorbench.evaluation.rank import auc_influence, delta_se
from tumorbench.evaluation.ratios import ratio_intervals
from tumorbench.evaluation.settings import EvaluationSettings

PROB_PREFIX = "prob_"

#: the binary view's scores, in report order: (key, label, definition)
BINARY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("sensitivity", "Sensitivity", "share of tumour images called tumour (tumour recall)"),
    ("specificity", "Specificity", "share of no-tumour images called no tumour"),
    ("auc", "AUC", "area under the ROC curve of P(tumour): the chance a tumour image scores above a "
                   "no-tumour image"),
    ("accuracy", "Accuracy", "share of images called right (tumour or no tumour)"),
    ("ppv", "PPV", "positive predictive value: share of images called tumour that show one"),
    ("npv", "NPV", "negative predictive value: share of images called no tumour that show none"),
)

# Columns of the per-image count matrix, and each score as a ratio of their sums.
_TP, _FN, _TN, _FP = range(4)
_RATIOS = {
    "sensitivity": ([_TP], [_TP, _FN]),
    "specificity": ([_TN], [_TN, _FP]),
    "accuracy": ([_TP, _TN], [_TP, _FN, _TN, _FP]),
    "ppv": ([_TP], [_TP, _FP]),
    "npv": ([_TN], [_TN, _FN]),
}


def frame_classes(frame: pd.DataFrame) -> tuple[str, ...]:
    """The model's classes, in its order: the `prob_<class>` columns of a predictions frame."""
    try:  # the predictions contract's own reader, where the branch that makes every class set possible has it
        from tumorbench.predictions.io import frame_classes as contract_classes
    except ImportError:
        return tuple(c[len(PROB_PREFIX):] for c in frame.columns if str(c).startswith(PROB_PREFIX))
    return tuple(contract_classes(frame))


@dataclass(frozen=True)
class BinaryArrays:
    """The labelled images of a predictions frame, seen as tumour vs no tumour."""

    positive: np.ndarray  # bool per image: its label is a tumour class
    score: np.ndarray  # P(tumour) per image
    labels: np.ndarray  # the true labels (the bootstrap's strata)
    tumour_classes: tuple[str, ...]  # the model's classes summed into P(tumour)
    unlabelled: int  # rows without a label, left out


def _model_reason(classes: tuple[str, ...]) -> str | None:
    """Why a model with these classes has no binary view (None: it has one)."""
    shown = ", ".join(classes) or "none"
    neither = [c for c in classes if is_tumor(c) is None]
    if neither:
        return (f"the model's class{'es' if len(neither) > 1 else ''} {', '.join(map(repr, neither))} "
                f"{'are' if len(neither) > 1 else 'is'} neither a tumour class nor {NO_TUMOR}, so "
                "P(tumour) is not the model's own answer")
    if NO_TUMOR not in classes:
        return f"the model has no {NO_TUMOR} class (its classes: {shown}), so it never says 'no tumour'"
    if not any(is_tumor(c) for c in classes):
        return f"the model has no tumour class (its classes: {shown})"
    return None


def binary_arrays(frame: pd.DataFrame) -> tuple[BinaryArrays | None, str | None]:
    """(arrays, None) for a frame with a binary view, else (None, why not, in one sentence)."""
    classes = frame_classes(frame)
    reason = _model_reason(classes)
    if reason:
        return None, reason[0].upper() + reason[1:] + "."
    labels = frame["label"].astype(str).to_numpy()
    known = labels != ""
    if not known.any():
        return None, "No image has a true label."
    labels = labels[known]
    side = pd.Series(labels).map(is_tumor)
    if side.isna().any():
        counts = pd.Series(labels[side.isna().to_numpy()]).value_counts()
        shown = ", ".join(f"{name!r} ({n} image{'s' if n != 1 else ''})" for name, n in counts.items())
        return None, (f"Labels {shown} are neither a tumour class nor {NO_TUMOR}: map them onto one with a "
                      "class map (for example yes=tumor,no=no_tumor) to score tumour vs no tumour.")
    positive = side.to_numpy(dtype=bool)
    if positive.all():
        return None, (f"No image is labelled {NO_TUMOR}, so specificity and the AUC are undefined "
                      "(every labelled image shows a tumour).")
    if not positive.any():
        return None, "No image is labelled with a tumour class, so sensitivity and the AUC are undefined."
    tumour = tuple(c for c in classes if c in TUMOR_CLASSES)
    probs = frame.loc[known, [f"{PROB_PREFIX}{c}" for c in tumour]].to_numpy(dtype=np.float64)
    return BinaryArrays(positive, probs.sum(axis=1), labels, tumour, int((~known).sum())), None


def binary_counts(positive: np.ndarray, called: np.ndarray) -> np.ndarray:
    """(n, 4) 0/1 columns TP, FN, TN, FP per image, from the truth and the calls (True: tumour)."""
    positive, called = np.asarray(positive, dtype=bool), np.asarray(called, dtype=bool)
    return np.stack([positive & called, positive & ~called, ~positive & ~called, ~positive & called],
                    axis=1).astype(np.float64)


def binary_view(frame: pd.DataFrame, *, settings: EvaluationSettings | None = None) -> dict:
    """Tumour vs no tumour scores of one predictions frame, with intervals, as a JSON-ready dict.

    Keys: defined, threshold, score (how P(tumour) is made), n, n_tumour, n_no_tumour, tp, fn, tn, fp,
    sensitivity, specificity, auc, accuracy, ppv, npv (None when undefined: PPV when nothing is called
    tumour), intervals {key: [low, high] | None}, notes. Undefined: {"defined": False, "reason": ...}.

    >>> f = pd.DataFrame({"image": list("abcd"), "label": ["tumor", "tumor", "no_tumor", "no_tumor"],
    ...                   "prob_glioma": [.5, .1, .1, 0], "prob_meningioma": [.3, .2, 0, 0],
    ...                   "prob_no_tumor": [.1, .6, .8, 1], "prob_pituitary": [.1, .1, .1, 0]})
    >>> v = binary_view(f); v["sensitivity"], v["specificity"], v["auc"]
    (0.5, 1.0, 1.0)
    """
    settings = settings or EvaluationSettings()
    arrays, reason = binary_arrays(frame)
    if arrays is None:
        return {"defined": False, "reason": reason}
    threshold = settings.binary_threshold
    counts = binary_counts(arrays.positive, arrays.score >= threshold)
    found = ratio_intervals(counts, _RATIOS, arrays.labels, settings.bootstrap)
    tp, fn, tn, fp = (int(v) for v in counts.sum(axis=0))
    result = {"defined": True, "threshold": threshold,
              "score": f"P(tumour) = sum of the probabilities of {', '.join(arrays.tumour_classes)}",
              "n": len(arrays.score), "n_tumour": tp + fn, "n_no_tumour": tn + fp,
              "tp": tp, "fn": fn, "tn": tn, "fp": fp}
    result.update({key: value for key, (value, _) in found.items()})
    intervals = {key: ci for key, (_, ci) in found.items()}
    auc, phi = auc_influence(arrays.positive, arrays.score)
    result["auc"] = auc
    # DeLong's variance: tumour and no-tumour images resampled separately.
    intervals["auc"] = list(delta_interval(auc, delta_se(phi, arrays.positive), settings.bootstrap.confidence))
    result["intervals"] = intervals
    notes = []
    if arrays.unlabelled:
        notes.append(f"{arrays.unlabelled} images without a true label are left out of the binary view.")
    if tp + fp == 0:
        notes.append("No image is called tumour at this threshold: PPV is undefined.")
    if tn + fn == 0:
        notes.append("No image is called no tumour at this threshold: NPV is undefined.")
    result["notes"] = notes
    return result


def binary_roc(frame: pd.DataFrame) -> dict | None:
    """ROC points of P(tumour) ({"fpr": [...], "tpr": [...]}), None when the view is undefined."""
    from sklearn.metrics import roc_curve

    arrays, _ = binary_arrays(frame)
    if arrays is None:
        return None
    fpr, tpr, _ = roc_curve(arrays.positive, arrays.score)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}


def binary_table(models: dict[str, dict]) -> pd.DataFrame:
    """One row per model of metrics.json's `models.<name>.binary`: n, n_tumour, n_no_tumour, each score
    with `<score>_low` / `<score>_high`, and `reason` where the view is undefined (its scores empty)."""
    rows = {}
    for name, entry in models.items():
        view = entry.get("binary") or {"defined": False, "reason": "not computed"}
        row: dict = {"defined": bool(view.get("defined")), "reason": view.get("reason")}
        for key in ("n", "n_tumour", "n_no_tumour", "threshold"):
            row[key] = view.get(key)
        for key, _, _ in BINARY_METRICS:
            ci = (view.get("intervals") or {}).get(key) or (None, None)
            row.update({key: view.get(key), f"{key}_low": ci[0], f"{key}_high": ci[1]})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
