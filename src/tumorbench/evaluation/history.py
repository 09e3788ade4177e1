"""Training histories (history.json, Keras-style) reduced to what the training-curve figures draw, and
histories of models trained elsewhere (Keras JSON, models_history.json, CSVLogger CSV) read for the report."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tumorbench.runfolder import HISTORY_FILE

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


def training_curves(history: dict, *, source: str = HISTORY_FILE) -> TrainingCurves | None:
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


# --- training histories of models trained elsewhere ----------------------------------------------------

# Keras before 2.3 wrote `acc`/`val_acc`; tumorbench and later Keras write `accuracy`/`val_accuracy`.
_KERAS_ALIASES = {"acc": "accuracy", "val_acc": "val_accuracy"}
HISTORY_FORMATS = ("a Keras History.history JSON ({\"accuracy\": [...], \"val_loss\": [...], ...})",
                   "a models_history.json mapping model names to such histories",
                   "a Keras CSVLogger CSV (epoch,accuracy,loss,val_accuracy,val_loss,...)")


def _formats_hint() -> str:
    return "expected " + "; or ".join(HISTORY_FORMATS)


def _keras_keys(history: dict) -> dict:
    return {_KERAS_ALIASES.get(k, k): v for k, v in history.items()}


def _is_history(obj) -> bool:
    """A Keras History.history: a JSON object whose values are lists."""
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, list) for v in obj.values())


def _csv_history(path: Path) -> dict:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]}); {_formats_hint()}") from None
    frame = frame.rename(columns=lambda c: _KERAS_ALIASES.get(str(c).strip(), str(c).strip()))
    plotted = [k for _, train, val in PANELS for k in (train, val) if k in frame.columns]
    if not plotted:
        raise ValueError(f"{path}: a CSV without accuracy or loss columns (columns: "
                         f"{', '.join(map(str, frame.columns))}); {_formats_hint()}")
    history = {}
    for key in plotted:
        values = pd.to_numeric(frame[key], errors="coerce")
        bad = frame[key][values.isna() & frame[key].notna()]
        if len(bad):
            raise ValueError(f"{path}: column {key!r} holds a non-number ({str(bad.iloc[0])[:30]!r} on data row "
                             f"{int(bad.index[0]) + 1}); fix or delete that row")
        history[key] = [None if np.isnan(v) else float(v) for v in values]
    if "epoch" in frame.columns:
        epochs = pd.to_numeric(frame["epoch"], errors="coerce")
        if epochs.notna().all():
            # CSVLogger counts epochs from 0; the figures count from 1, as tumorbench's own histories do.
            history["epoch"] = [int(e) + 1 for e in epochs]
    return history


def read_history_file(path: str | os.PathLike, name: str) -> dict:
    """The training history of model `name` from a file written outside tumorbench, as a history dict
    (`training_curves` draws it). Accepts a Keras `History.history` JSON, a `models_history.json`
    (model name -> such a history; the entry `name` is taken) or a Keras `CSVLogger` CSV.

    Raises ValueError naming the file, what is wrong and the fix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: history file not found (given for model {name!r})")
    if path.suffix.lower() in (".csv", ".tsv", ".log"):
        history = _csv_history(path)
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); {_formats_hint()}") from None
        if _is_history(data):
            history = data
        elif isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
            if name not in data:
                raise ValueError(f"{path}: holds the histories of {', '.join(map(repr, data))}, none called "
                                 f"{name!r}; pass --history with one of these names (name the predictions file "
                                 "the same with --names)")
            history = data[name]
            if not _is_history(history):
                raise ValueError(f"{path}: the entry {name!r} is not a history (metric name -> list of numbers per "
                                 f"epoch); {_formats_hint()}")
        else:
            raise ValueError(f"{path}: a JSON {type(data).__name__} that is not a training history; {_formats_hint()}")
    history = _keras_keys(history)
    if training_curves(history, source=str(path)) is None:  # also checks lists of numbers, equal lengths
        raise ValueError(f"{path}: has no accuracy, val_accuracy, loss or val_loss series (keys: "
                         f"{', '.join(map(str, history))}); {_formats_hint()}")
    return history


def parse_history_options(values) -> dict[str, Path]:
    """`--history NAME=FILE` values (or a mapping name -> file) as {name: Path}; a name given twice or a
    value without `=` is a ValueError showing the expected form."""
    if isinstance(values, Mapping):
        return {str(k).strip(): Path(v) for k, v in values.items()}
    out: dict[str, Path] = {}
    for value in values or ():
        name, sep, file = str(value).partition("=")
        if not sep or not name.strip() or not file.strip():
            raise ValueError(f"--history {value!r}: expected NAME=FILE, e.g. --history vgg16=history.json "
                             "(NAME is the model's name in the report)")
        if name.strip() in out:
            raise ValueError(f"--history: two files for model {name.strip()!r}; give one per model")
        out[name.strip()] = Path(file.strip())
    return out
