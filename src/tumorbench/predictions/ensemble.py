"""A weighted ensemble of any models' predictions files, its weights chosen on validation.

The ensemble averages its members' class probabilities, image by image, with one weight per member.
The weights are the point of a grid over the simplex (steps of `step`) with the lowest validation
log-loss: a proper scoring rule, so it rewards the member whose probabilities are right and sure, and,
unlike validation accuracy (where a few hundred images leave many weights tied), it has one clear best.
Only validation predictions choose; the test predictions are combined with the chosen weights once.
It works on predictions files alone, so the members may be any models, each with its own input size
and preprocessing, trained here or elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import product

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss

from tumorbench.predictions.io import check_same_images, frame_classes, predictions_frame, prob_columns

__all__ = ["choose_weights", "ensemble_predictions", "simplex_grid", "weighted_mean"]


def simplex_grid(n_members: int, step: float) -> np.ndarray:
    """Every weight vector of `n_members` non-negative multiples of `step` that sum to 1, (k, n_members)."""
    if n_members < 1:
        raise ValueError("an ensemble needs at least one member")
    units = round(1 / step)
    rows = [c for c in product(range(units + 1), repeat=n_members - 1) if sum(c) <= units]
    return np.array([[*c, units - sum(c)] for c in rows], dtype=np.float64) / units


def choose_weights(probs: list[np.ndarray], y: np.ndarray, *, step: float = 0.05) -> tuple[np.ndarray, list[dict]]:
    """The grid weights with the lowest log-loss of the weighted mean of `probs` (one (n, classes) array
    per member) against labels `y`; ties go to the more even weights. Returns them and every grid
    point's validation log-loss and accuracy."""
    stack = np.stack(probs)  # (members, n, classes)
    table, best, best_key = [], None, None
    for w in simplex_grid(len(probs), step):
        mixed = np.tensordot(w, stack, axes=1)
        loss = float(log_loss(y, np.clip(mixed, 1e-12, 1.0), labels=range(stack.shape[2])))
        table.append({"weights": [round(float(v), 6) for v in w], "val_log_loss": round(loss, 6),
                      "val_accuracy": round(float(accuracy_score(y, mixed.argmax(1))), 6)})
        key = (round(loss, 9), float(np.abs(w - 1 / len(w)).sum()))
        if best_key is None or key < best_key:
            best, best_key = w, key
    return best, table


def weighted_mean(frames: Mapping[str, pd.DataFrame], weights: Mapping[str, float]) -> pd.DataFrame:
    """The ensemble's predictions table of any split its members predicted (`frames`: member -> table, all
    on the same images), with the members' `weights`: the first member's image order."""
    check_same_images(dict(frames))
    first = next(iter(frames.values()))
    columns = prob_columns(first)
    probs = sum(w * frames[n].set_index("image").loc[first["image"], columns].to_numpy() for n, w in weights.items())
    return predictions_frame(first["image"].tolist(), [lab or None for lab in first["label"]], probs,
                             frame_classes(first))


def ensemble_predictions(val: Mapping[str, pd.DataFrame], test: Mapping[str, pd.DataFrame], *,
                         step: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Weighted-mean predictions of the members (`val` and `test`: member name -> predictions table of
    that split, all members on the same images), weights chosen on `val`. Returns the ensemble's
    validation and test tables and what to record in its info (members, weights, the grid searched)."""
    names = list(val)
    if len(names) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {names}")
    if set(test) != set(names):
        raise ValueError(f"members with validation predictions {sorted(val)} differ from those with test "
                         f"predictions {sorted(test)}")
    for split in (val, test):
        check_same_images({name: split[name] for name in names})
    first = val[names[0]]
    classes = frame_classes(first)
    differ = [n for n in names[1:] for split in (val, test) if frame_classes(split[n]) != classes]
    if differ:
        raise ValueError(f"ensemble members {names[0]} and {differ[0]} have different classes "
                         f"({list(classes)} vs {list(frame_classes(val[differ[0]]))}); average models of one class set")
    columns = prob_columns(classes)
    index = {c: i for i, c in enumerate(classes)}
    scored = first["label"].isin(classes).to_numpy()  # validation labels the members can be scored on
    y = first["label"][scored].map(index).to_numpy()
    aligned = [val[n].set_index("image").loc[first["image"], columns].to_numpy()[scored] for n in names]
    weights, table = choose_weights(aligned, y, step=step)

    by_name = dict(zip(names, (float(v) for v in weights)))
    best = next(row for row in table if np.allclose(row["weights"], weights))
    info = {"members": names, "member_weights": dict(zip(names, [round(float(v), 6) for v in weights])),
            "weights_chosen_on": f"validation log-loss over a {step:g} grid of the simplex",
            "val_log_loss": best["val_log_loss"], "val_accuracy": best["val_accuracy"], "weight_grid": table}
    return (weighted_mean({n: val[n] for n in names}, by_name), weighted_mean({n: test[n] for n in names}, by_name),
            info)
