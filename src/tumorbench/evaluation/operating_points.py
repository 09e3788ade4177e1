"""Operating points: sensitivity at a fixed specificity and specificity at a fixed sensitivity.

For the binary view (P(tumour), `binary.py`) and for each class one vs rest (P(class)), the threshold
is CHOSEN ON THE VALIDATION PREDICTIONS and APPLIED TO THE TEST PREDICTIONS: a threshold chosen on test
would report the best case of the very images it is scored on. Without validation predictions (a
predictions file evaluated alone) there are no operating points, and the report says so.

Choosing (an image is called positive when its score >= threshold; the candidate thresholds are the
validation scores, as scikit-learn's `roc_curve` has them, plus "above every score"):
- sensitivity at specificity s: the threshold whose validation specificity is at least s with the
  highest validation sensitivity (of those, the highest specificity: the ROC curve's corner);
- specificity at sensitivity s: the threshold whose validation sensitivity is at least s with the
  highest validation specificity (of those, the highest sensitivity).
The test sensitivity and specificity at that threshold get stratified bootstrap intervals over the test
images (`ratios.py`); the threshold is held fixed, so the intervals are those of the test sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tumorbench.evaluation.binary import PROB_PREFIX, binary_arrays, frame_classes
from tumorbench.evaluation.ratios import ratio_intervals
from tumorbench.evaluation.settings import EvaluationSettings

BINARY = "tumour vs no tumour"  # the `view` of the binary view's points
FIXED = ("specificity", "sensitivity")  # what a point holds at its target; the other is the result
# Comparisons of a reached rate with its target: 9 of 10 is 0.9, also in floating point.
_EPS = 1e-12


def rates(positive: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sensitivity, specificity) at each threshold: positives scored >= t, negatives scored < t."""
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    pos, neg = np.sort(score[positive]), np.sort(score[~positive])
    thresholds = np.asarray(thresholds, dtype=np.float64)
    sensitivity = (len(pos) - np.searchsorted(pos, thresholds, side="left")) / len(pos)
    specificity = np.searchsorted(neg, thresholds, side="left") / len(neg)
    return sensitivity, specificity


def choose_threshold(positive: np.ndarray, score: np.ndarray, *, fixed: str, target: float) -> float:
    """The threshold reaching `target` `fixed` rate ("specificity" or "sensitivity") with the best other
    rate on these (validation) images; `inf` when only calling every image negative reaches it.

    >>> choose_threshold([1, 1, 0, 0, 0], [.9, .4, .5, .2, .1], fixed="specificity", target=0.9)
    0.9
    >>> choose_threshold([1, 1, 0, 0, 0], [.9, .4, .5, .2, .1], fixed="sensitivity", target=1.0)
    0.4
    """
    if fixed not in FIXED:
        raise ValueError(f"fixed must be one of {', '.join(FIXED)}, got {fixed!r}")
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        raise ValueError("choosing a threshold needs positive and negative images")
    candidates = np.append(np.unique(np.asarray(score, dtype=np.float64)), np.inf)  # increasing
    sensitivity, specificity = rates(positive, score, candidates)
    held, other = (specificity, sensitivity) if fixed == "specificity" else (sensitivity, specificity)
    reached = held >= target - _EPS
    best = other[reached].max()  # "above every score" always reaches a specificity, the lowest score a sensitivity
    ties = reached & (other >= best - _EPS)
    # Of the thresholds with the best result, the one that holds the fixed rate highest.
    return float(candidates[ties][np.argmax(held[ties])])


def _views(frame: pd.DataFrame) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], list[str]]:
    """{view: (positive, score, strata)} of a frame's labelled images: the binary view, then each of the
    model's classes one vs rest; and why a view is missing."""
    views, missing = {}, []
    arrays, reason = binary_arrays(frame)
    if arrays is not None:
        views[BINARY] = (arrays.positive, arrays.score, arrays.labels)
    else:
        missing.append(f"{BINARY}: {reason}")
    labelled = frame[frame["label"].astype(str) != ""]
    labels = labelled["label"].astype(str).to_numpy()
    for cls in frame_classes(frame):
        positive = labels == cls
        if positive.all() or not positive.any():
            missing.append(f"{cls} vs rest: {'every' if positive.all() else 'no'} labelled image is {cls}.")
            continue
        views[cls] = (positive, labelled[f"{PROB_PREFIX}{cls}"].to_numpy(dtype=np.float64), labels)
    return views, missing


def operating_points(test: pd.DataFrame, validation: pd.DataFrame | None, *,
                     settings: EvaluationSettings | None = None) -> dict:
    """Every operating point of one model, thresholds chosen on `validation`, scored on `test`.

    Returns {"chosen_on", "applied_to", "points": [{view, fixed, target, threshold (None: above every
    validation score), validation {sensitivity, specificity}, sensitivity, specificity (test), fpr,
    intervals {sensitivity, specificity}}], "notes"}; without validation {"points": [], "reason"}.
    """
    settings = settings or EvaluationSettings()
    if validation is None:
        return {"points": [], "reason": "No validation predictions: operating points need a threshold chosen on "
                                        "validation (choosing it on test would flatter the test score), so "
                                        "they are left out."}
    val_views, _ = _views(validation)
    test_views, notes = _views(test)
    targets = [("specificity", t) for t in settings.sensitivity_at_specificity] + \
              [("sensitivity", t) for t in settings.specificity_at_sensitivity]
    points, columns, ratios, strata = [], [], {}, None
    for view, (positive, score, labels) in test_views.items():
        if view not in val_views:
            notes.append(f"{view}: the validation predictions cannot choose its threshold (they lack "
                         "positive or negative images of it).")
            continue
        val_positive, val_score, _ = val_views[view]
        strata = labels  # every view holds the same labelled test images, in the same order
        notes.extend(_coarse(view, val_positive, targets))
        for fixed, target in targets:
            threshold = choose_threshold(val_positive, val_score, fixed=fixed, target=target)
            val_sens, val_spec = rates(val_positive, val_score, [threshold])
            sens, spec = rates(positive, score, [threshold])
            called = score >= threshold
            base = 4 * len(points)
            columns += [positive & called, positive, ~positive & ~called, ~positive]
            ratios[f"{len(points)}:sensitivity"] = ([base], [base + 1])
            ratios[f"{len(points)}:specificity"] = ([base + 2], [base + 3])
            points.append({"view": view, "fixed": fixed, "target": target,
                           "threshold": None if np.isinf(threshold) else threshold,
                           "validation": {"sensitivity": float(val_sens[0]), "specificity": float(val_spec[0])},
                           "sensitivity": float(sens[0]), "specificity": float(spec[0]),
                           "fpr": 1 - float(spec[0])})
    if points:
        found = ratio_intervals(np.stack(columns, axis=1).astype(np.float64), ratios, strata, settings.bootstrap)
        for i, point in enumerate(points):
            point["intervals"] = {rate: found[f"{i}:{rate}"][1] for rate in ("sensitivity", "specificity")}
    return {"chosen_on": f"validation split ({_labelled(validation)} images)",
            "applied_to": f"test split ({_labelled(test)} images)",
            "rule": "called positive when the score >= threshold; the score is P(tumour) for the binary view, "
                    "P(class) one vs rest",
            "points": points, "notes": notes}


def _coarse(view: str, positive: np.ndarray, targets: list[tuple[str, float]]) -> list[str]:
    """Notes on targets the validation split is too small to hold exactly: with n negatives a
    specificity moves in steps of 1/n, so a 95 % target on 10 negatives allows no error at all."""
    out = []
    for fixed, side in (("specificity", ~positive), ("sensitivity", positive)):
        n = int(side.sum())
        strict = [t for f, t in targets if f == fixed and n * (1 - t) < 1]
        if strict:
            shown = ", ".join(f"{100 * t:g} %" for t in strict)
            out.append(f"{view}: the validation split has {n} {'negatives' if fixed == 'specificity' else 'positives'}"
                       f", so a {fixed} target of {shown} allows no error there (it moves in steps of 1/{n}).")
    return out


def _labelled(frame: pd.DataFrame) -> int:
    return int((frame["label"].astype(str) != "").sum())


def operating_points_table(models: dict[str, dict]) -> pd.DataFrame:
    """One row per operating point of metrics.json's `models.<name>.operating_points`: model, view,
    fixed, target, threshold, the fixed rate reached on validation, and the test sensitivity and
    specificity with their `_low` / `_high` bounds."""
    rows = []
    for name, entry in models.items():
        for p in (entry.get("operating_points") or {}).get("points") or []:
            row = {"model": name, "view": p["view"], "fixed": p["fixed"], "target": p["target"],
                   "threshold": p["threshold"], "validation": p["validation"][p["fixed"]]}
            for rate in ("sensitivity", "specificity"):
                ci = (p.get("intervals") or {}).get(rate) or (None, None)
                row.update({rate: p[rate], f"{rate}_low": ci[0], f"{rate}_high": ci[1]})
            rows.append(row)
    columns = ["model", "view", "fixed", "target", "threshold", "validation", "sensitivity", "sensitivity_low",
               "sensitivity_high", "specificity", "specificity_low", "specificity_high"]
    return pd.DataFrame(rows, columns=columns)
