"""Everything the report shows about one model, computed once from its predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tumorbench.evaluation.binary import binary_roc, binary_view
from tumorbench.evaluation.classification import (
    compute_metrics,
    labelled_arrays,
    predicted_classes,
)
from tumorbench.evaluation.curves import compute_roc_curves, pr_curve_points
from tumorbench.evaluation.history import TrainingCurves, training_curves
from tumorbench.evaluation.mistakes import confident_mistakes
from tumorbench.evaluation.operating_points import operating_points
from tumorbench.evaluation.settings import EvaluationSettings
from tumorbench.predictions.io import frame_classes
from tumorbench.runfolder import HISTORY_FILE


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
    dedup: dict | None = None  # metrics on the de-duplicated test split (see dedup_metrics); None: no audit
    notes: list[str] = field(default_factory=list)  # what the report must say about this model
    pr: dict | None = None  # precision-recall curve points (pr_curve_points)
    # Filled by `assess`: temperature, calibration metrics before/after with intervals, reliability bins.
    calibration: dict | None = None
    calibrated: pd.DataFrame | None = None  # temperature-scaled test predictions (a new table, not the file)
    # The predictions themselves, for the joint bootstrap and the paired tests of `assess`.
    frame: pd.DataFrame | None = field(default=None, repr=False)
    validation_frame: pd.DataFrame | None = field(default=None, repr=False)
    duplicated: dict[str, str] | None = field(default=None, repr=False)
    # Tumour vs no tumour (binary.binary_view) with its ROC points, and the operating points
    # (operating_points.operating_points: thresholds chosen on validation, applied to test).
    binary: dict | None = None
    binary_roc: dict | None = None
    operating_points: dict | None = None
    copy_labels: dict[str, frozenset[str]] | None = field(default=None, repr=False)  # labels of those copies


def evaluate_model(
    name: str,
    frame: pd.DataFrame,
    *,
    source: Path,
    history: dict | None = None,
    history_source: str = HISTORY_FILE,
    info: dict | None = None,
    validation_frame: pd.DataFrame | None = None,
    duplicated: dict[str, str] | None = None,
    copy_labels: dict[str, frozenset[str]] | None = None,
    settings: EvaluationSettings | None = None,
) -> ModelResult:
    """Metrics, ROC points, mistakes and training curves of one model; notes collected on the way.

    `duplicated` maps the test images that have a duplicate in training to 'exact' or 'near' (from
    the dataset audit); when given, the metrics are also computed without them (`dedup`). With
    `copy_labels` (the labels of those copies) `dedup` also says where the test score comes from
    (`by_copy`, see `copy_breakdown`)."""
    metrics = compute_metrics(frame, settings=settings)
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
    validation = compute_metrics(validation_frame, settings=settings) if validation_frame is not None else None
    if validation is not None:
        notes.extend(f"Validation predictions: {note}" for note in validation["notes"])
    y_true, probs, _ = labelled_arrays(frame)
    return ModelResult(
        name=name,
        source=source,
        metrics=metrics,
        roc=compute_roc_curves(frame),
        pr=pr_curve_points(y_true, probs, frame_classes(frame)),
        frame=frame,
        validation_frame=validation_frame,
        duplicated=duplicated,
        copy_labels=copy_labels,
        mistakes=confident_mistakes(frame),
        training=training,
        info=info,
        validation=validation,
        dedup=(dedup_metrics(frame, duplicated, metrics, settings=settings, copy_labels=copy_labels)
               if duplicated is not None else None),
        notes=notes,
        **binary_parts(frame, validation_frame, settings),
    )


def binary_parts(frame: pd.DataFrame, validation_frame: pd.DataFrame | None,
                 settings: EvaluationSettings | None) -> dict:
    """The ModelResult fields of the binary view and the operating points."""
    return {"binary": binary_view(frame, settings=settings), "binary_roc": binary_roc(frame),
            "operating_points": operating_points(frame, validation_frame, settings=settings)}


def dedup_frame(frame: pd.DataFrame, duplicated: dict[str, str]) -> pd.DataFrame:
    """The predictions of the test images with no duplicate in training or validation."""
    return frame[frame["image"].map(duplicated).isna()]


#: the groups of `copy_breakdown`, in the order the report shows them
COPY_GROUPS = ("same_label", "other_label", "no_copy")


def copy_group(image: str, label: str, copy_labels: dict[str, frozenset[str]]) -> str:
    """The `copy_breakdown` group of one labelled test image."""
    if image not in copy_labels:
        return "no_copy"
    return "same_label" if label in copy_labels[image] else "other_label"


def copy_breakdown(frame: pd.DataFrame, copy_labels: dict[str, frozenset[str]]) -> dict:
    """Where a test score comes from: the labelled test images in three groups, each with its size `n`
    and the number the model gets right (`correct`):

    - `same_label`: a copy in training/validation filed under the image's own class (a model that learned
      the copy gets it right; a copy in validation only a refit model has learned);
    - `other_label`: copies filed only under other classes (the dataset contradicts the label: a model
      that learned the copy is scored wrong);
    - `no_copy`: no copy with a label (only what the model generalises counts here); the de-duplicated
      test split whenever every copy carries a label, as in a run's training and validation splits.
    """
    y_true, probs, _ = labelled_arrays(frame)  # the rows the metrics score, as they score them
    labelled = frame[frame["label"].astype(str).isin(frame_classes(frame)).to_numpy()]
    right = predicted_classes(probs) == y_true
    groups = [copy_group(image, label, copy_labels) for image, label in zip(labelled["image"], labelled["label"])]
    out = {g: {"n": 0, "correct": 0} for g in COPY_GROUPS}
    for g, ok in zip(groups, right):
        out[g]["n"] += 1
        out[g]["correct"] += int(ok)
    return out


def dedup_metrics(frame: pd.DataFrame, duplicated: dict[str, str], full: dict, *,
                  settings: EvaluationSettings | None = None,
                  copy_labels: dict[str, frozenset[str]] | None = None) -> dict:
    """compute_metrics of the predictions without the `duplicated` images, plus the counts: `n_full`
    (the full test split), `n` (kept), `removed` {exact, near}, and with `copy_labels` the `by_copy`
    breakdown (`copy_breakdown`). With nothing kept, only the counts."""
    kinds = frame["image"].map(duplicated)
    clean = dedup_frame(frame, duplicated)
    removed = {"exact": int((kinds == "exact").sum()), "near": int((kinds == "near").sum())}
    counts = {"n_full": full["n"], "removed": removed,
              "definition": "test images with no exact or near duplicate in the training or validation split"}
    if copy_labels is not None:
        counts["by_copy"] = copy_breakdown(frame, copy_labels)
    if not len(clean) or not clean["label"].astype(bool).any():
        return {**counts, "n": 0, "notes": ["Every test image has a duplicate in training: no "
                                            "de-duplicated metrics."]}
    metrics = compute_metrics(clean, settings=settings)
    return {**metrics, **counts, "notes": [n for n in metrics["notes"] if n not in full["notes"]]}
