"""Training histories (history.json, Keras-style) reduced to what the training-curve figures draw."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Pairs drawn on one panel each: (panel title, training key, validation key).
PANELS: tuple[tuple[str, str, str], ...] = (
    ("accuracy", "accuracy", "val_accuracy"),
    ("loss", "loss", "val_loss"),
)


@dataclass
class TrainingCurves:
    """Series keyed by history key, all on the same `epochs` axis; NaN where an epoch lacks a value."""

    epochs: np.ndarray
    series: dict[str, np.ndarray]
    best_epoch: int | None = None
    # (first epoch of a phase, phase name) for every phase after the first, e.g. [(4, "finetune")].
    phase_starts: list[tuple[int, str]] = field(default_factory=list)


def training_curves(history: dict, *, source: str = "history.json") -> TrainingCurves | None:
    """Validate a history dict; None when it holds none of the plotted series.

    Raises ValueError (naming `source`) when a series is not a list of numbers or lengths disagree.
    """
    if not isinstance(history, dict):
        raise ValueError(
            f"{source}: expected a JSON object with lists such as 'loss' and 'val_loss', got "
            f"{type(history).__name__}; delete the file to build the report without training curves"
        )
    keys = [k for _, train, val in PANELS for k in (train, val) if k in history]
    if not keys:
        return None
    series = {}
    for key in keys:
        values = history[key]
        if not isinstance(values, list) or not all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
        ):
            raise ValueError(
                f"{source}: {key!r} must be a list of numbers, got {str(values)[:60]!r}; delete the "
                "file to build the report without training curves"
            )
        series[key] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    lengths = {len(v) for v in series.values()}
    if len(lengths) != 1:
        raise ValueError(
            f"{source}: series have different lengths "
            f"({', '.join(f'{k}={len(v)}' for k, v in series.items())}); the file is inconsistent: "
            "delete it to build the report without training curves"
        )
    (length,) = lengths
    epochs = history.get("epoch")
    if not (isinstance(epochs, list) and len(epochs) == length):
        epochs = list(range(1, length + 1))
    epochs_array = np.asarray(epochs, dtype=np.float64)

    phases = history.get("phase")
    phase_starts = []
    if isinstance(phases, list) and len(phases) == length:
        for i in range(1, length):
            if phases[i] != phases[i - 1]:
                phase_starts.append((int(epochs_array[i]), str(phases[i])))
    best = history.get("best_epoch")
    best_epoch = int(best) if isinstance(best, (int, float)) and not isinstance(best, bool) else None
    return TrainingCurves(epochs_array, series, best_epoch, phase_starts)
