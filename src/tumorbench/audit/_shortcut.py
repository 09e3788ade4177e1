"""The shortcut check: can a classifier that sees no pixels (only width, height, aspect, colour mode,
file format and file size) predict the class? If so, a CNN can learn the same shortcut.

Cross-validation folds keep groups of duplicates together, so the score measures a property that
generalises to unseen images, not the memorised file size of a copied image.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

# One entry per property the report can name; mode and format are one-hot groups.
PROPERTIES = ("width", "height", "aspect", "file_size", "mode", "format")

# "Far above chance": at least this much accuracy over the majority-class baseline, and significant.
LEAK_MARGIN = 0.10
LEAK_P_VALUE = 1e-3
N_FOLDS = 5


def _design(rows: Sequence[dict[str, Any]], props: Sequence[str]) -> np.ndarray:
    cols = []
    for prop in props:
        if prop in ("mode", "format"):
            values = [str(r[prop]) for r in rows]
            for level in sorted(set(values)):
                cols.append([v == level for v in values])
        elif prop == "aspect":
            cols.append([r["width"] / r["height"] for r in rows])
        else:
            cols.append([r[prop] for r in rows])
    return np.asarray(cols, dtype=np.float64).T


def _cv_predict(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_folds: int, seed: int, n_jobs: int,
                forest: bool = True) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier

    # One property alone is a few thresholds (or categories): one tree finds them, at a fiftieth of a
    # forest's cost; the forest is for the combination of all properties.
    model = (RandomForestClassifier(n_estimators=60, min_samples_leaf=2, random_state=seed, n_jobs=n_jobs)
             if forest else DecisionTreeClassifier(min_samples_leaf=5, random_state=seed))
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A class with fewer members than folds only warns; its score is still meaningful.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return cross_val_predict(model, x, y, groups=groups, cv=folds)


def shortcut_check(rows: Sequence[dict[str, Any]], labels: Sequence[str], groups: Sequence[int], *,
                   seed: int = 0, n_jobs: int = 1) -> dict[str, Any]:
    """Cross-validated accuracy of a random forest on file properties (and of one decision tree on
    each property alone), against the majority baseline.

    `rows` hold width, height, mode, format and file_size of readable labelled images, `groups` their
    duplicate-group ids. Returns a JSON-able dict; `leaks` lists the properties that alone predict the
    class far above chance, best first.
    """
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    result: dict[str, Any] = {
        "model": ("random forest (60 trees) on width, height, aspect, mode, format, file size; "
                  "one decision tree per property alone"),
        "n_images": int(len(y)),
        "n_folds": 0,
        "majority_class": str(classes[counts.argmax()]) if len(y) else None,
        "majority_baseline": float(counts.max() / len(y)) if len(y) else None,
        "accuracy": None, "per_property": {}, "leak": False, "leaks": [],
        "margin": LEAK_MARGIN, "p_value_threshold": LEAK_P_VALUE,
    }
    groups = np.asarray(groups)
    n_folds = min(N_FOLDS, int(counts.min()) if len(counts) else 0, len(np.unique(groups)))
    if len(classes) < 2 or n_folds < 2:
        result["skipped"] = "needs at least two classes with two images each"
        return result
    result["n_folds"] = n_folds
    baseline = result["majority_baseline"]

    def score(props: Sequence[str]) -> dict[str, Any]:
        pred = _cv_predict(_design(rows, props), y, groups, n_folds, seed, n_jobs, forest=len(props) > 1)
        correct = pred == y
        acc = float(correct.mean())
        p = binomtest(int(correct.sum()), len(y), baseline, alternative="greater").pvalue
        return {"accuracy": acc, "p_value": float(p),
                "leak": bool(acc >= baseline + LEAK_MARGIN and p < LEAK_P_VALUE),
                "recall": {str(c): float(correct[y == c].mean()) for c in classes}}

    overall = score(PROPERTIES)
    result.update(accuracy=overall["accuracy"], p_value=overall["p_value"], leak=overall["leak"],
                  recall=overall["recall"])
    for prop in PROPERTIES:
        result["per_property"][prop] = score([prop])
    result["leaks"] = sorted((p for p, s in result["per_property"].items() if s["leak"]),
                             key=lambda p: -result["per_property"][p]["accuracy"])
    return result
