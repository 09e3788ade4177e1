"""Everything the report shows about one model, computed once from its predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tumorbench.metrics import compute_metrics, compute_roc_curves, confident_mistakes
from tumorbench.report.history import TrainingCurves, training_curves


@dataclass
class ModelResult:
    name: str
    source: Path  # the predictions file the metrics come from
    metrics: dict  # compute_metrics of the reported split
    roc: dict  # compute_roc_curves of the same predictions
    mistakes: pd.DataFrame  # most confident mistakes
    training: TrainingCurves | None = None  # from history.json; None when absent
    info: dict | None = None  # info.json; None when absent
    validation: dict | None = None  # compute_metrics of the validation predictions, when present
    notes: list[str] = field(default_factory=list)  # what the report must say about this model


def evaluate_model(
    name: str,
    frame: pd.DataFrame,
    *,
    source: Path,
    history: dict | None = None,
    history_source: str = "history.json",
    info: dict | None = None,
    validation_frame: pd.DataFrame | None = None,
) -> ModelResult:
    """Metrics, ROC points, mistakes and training curves of one model; notes collected on the way."""
    metrics = compute_metrics(frame)
    notes = list(metrics["notes"])
    training = training_curves(history, source=history_source) if history is not None else None
    if history is not None and training is None:
        notes.append(f"{history_source} has no accuracy or loss series: training curves omitted.")
    if info is not None:
        if not isinstance(info, dict):
            raise ValueError(
                f"{name}: info.json must be a JSON object, got {type(info).__name__}; delete it to build "
                "the report without the model details"
            )
        notes.extend(str(n) for n in info.get("notes") or [])
    validation = compute_metrics(validation_frame) if validation_frame is not None else None
    if validation is not None:
        notes.extend(f"Validation predictions: {note}" for note in validation["notes"])
    return ModelResult(
        name=name,
        source=source,
        metrics=metrics,
        roc=compute_roc_curves(frame),
        mistakes=confident_mistakes(frame),
        training=training,
        info=info,
        validation=validation,
        notes=notes,
    )
