"""Everything computed across models: intervals, calibration, paired tests, seeds, recommendation.

`assess(results, settings)` takes the per-model results (`evaluate_model`) and adds, in place:
`metrics["intervals"]` (test split), `validation["intervals"]`, `dedup["intervals"]`, `calibration` and
`calibrated`; it returns the cross-model parts (paired comparison, seed summary, recommendation). All
models are resampled together, so every interval of a difference is paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation import calibration as cal
from tumorbench.evaluation.bootstrap import Replicates, bootstrap, interval_method, intervals
from tumorbench.evaluation.classification import (
    classification_metrics,
    labelled_arrays,
    score_context,
)
from tumorbench.evaluation.declared import ScoreContext, metrics
from tumorbench.evaluation.model_result import ModelResult, dedup_frame
from tumorbench.evaluation.paired import Comparison, compare_models
from tumorbench.evaluation.recommend import Recommendation, recommend
from tumorbench.evaluation.seeds import seed_groups, seed_summary
from tumorbench.evaluation.settings import EvaluationSettings
from tumorbench.predictions.io import frame_classes, predictions_frame, prob_columns

CALIBRATED = "{name} (temperature-scaled)"


@dataclass
class Assessment:
    comparison: Comparison  # paired tests between the compared models (one per seed group)
    seeds: dict | None  # seed_summary; None when no model was trained with several seeds
    recommendation: Recommendation
    settings: EvaluationSettings
    method: dict  # how the intervals were made (metrics.json `intervals`)
    # the test split's bootstrap values (every model and calibrated twin), for gaps to other test sets
    replicates: Replicates | None = None


def _aligned(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The labelled rows of every frame in the first frame's image order (paired analyses need it)."""
    labelled = {name: f[f["label"].astype(str) != ""] for name, f in frames.items()}
    order = next(iter(labelled.values()))["image"]
    out = {}
    for name, frame in labelled.items():
        aligned = frame.set_index("image").loc[order].reset_index()
        aligned.attrs = dict(frame.attrs)
        out[name] = aligned
    return out


def _contexts(frames: dict[str, pd.DataFrame], settings: EvaluationSettings) -> dict[str, ScoreContext]:
    out = {}
    aligned = _aligned(frames)
    first_name, first = next(iter(aligned.items()))
    for name, frame in aligned.items():
        differs = (frame["label"].to_numpy() != first["label"].to_numpy())
        if differs.any():
            image = frame["image"].iloc[int(np.flatnonzero(differs)[0])]
            raise ValueError(
                f"the predictions of {first_name} and {name} give different true labels to {int(differs.sum())} "
                f"image(s) (e.g. {image!r}); paired comparisons need one ground truth: fix the label column")
        y_true, probs, _ = labelled_arrays(frame)
        out[name] = score_context(y_true, probs, settings, classes=frame_classes(frame))
    return out


def with_intervals(frames: dict[str, pd.DataFrame], points: dict[str, dict], settings: EvaluationSettings):
    """Intervals of every case of `frames` (resampled together), written into `points[name]`."""
    if not frames:
        return {}, None
    contexts = _contexts(frames, settings)
    replicates = bootstrap(contexts, settings.bootstrap)
    found = intervals(contexts, points, settings.bootstrap, replicates=replicates)
    for name, ci in found.items():
        points[name]["intervals"] = ci
    return contexts, replicates


def _calibration(result: ModelResult, contexts: dict[str, ScoreContext], settings: EvaluationSettings):
    """Temperature fitted on the validation split, applied to the test probabilities."""
    ctx = contexts[result.name]
    reliability = cal.reliability(ctx.y_true, ctx.probs, bins=settings.calibration_bins)
    if result.validation_frame is None:
        return {"temperature": None, "reliability_before": reliability,
                "note": "No validation predictions: temperature scaling was not fitted."}, None
    y_val, p_val, _ = labelled_arrays(result.validation_frame)
    temperature = cal.fit_temperature(y_val, p_val)
    calibrated = cal.apply_temperature(ctx.probs, temperature)
    frame = predictions_frame(_aligned({"m": result.frame})["m"]["image"].tolist(),
                              [ctx.classes[k] for k in ctx.y_true], calibrated, ctx.classes)
    return {"temperature": temperature, "fitted_on": f"validation split ({len(y_val)} images)",
            "reliability_before": reliability,
            "reliability_after": cal.reliability(ctx.y_true, calibrated, bins=settings.calibration_bins)}, frame


def assess(results: Sequence[ModelResult], settings: EvaluationSettings | None = None, *,
           evaluated_on: str = "test split") -> Assessment:
    """Intervals, calibration, paired tests, seed summary and recommendation of evaluated models."""
    settings = settings or EvaluationSettings()
    results = list(results)
    frames = {r.name: r.frame for r in results}
    points = {r.name: r.metrics for r in results}

    # Calibrated twins join the test bootstrap, so before and after share their resamples.
    contexts = _contexts(frames, settings)
    calibrated_frames = {}
    for r in results:
        r.calibration, r.calibrated = _calibration(r, contexts, settings)
        if r.calibrated is not None:
            twin = CALIBRATED.format(name=r.name)
            calibrated_frames[twin] = r.calibrated
            probs = r.calibrated[prob_columns(r.calibrated)].to_numpy()
            points[twin] = classification_metrics(contexts[r.name].y_true, probs, settings=settings,
                                                  classes=contexts[r.name].classes)
    contexts, replicates = with_intervals({**frames, **calibrated_frames}, points, settings)
    calibration_specs = metrics(where="calibration", overall=True)
    for r in results:
        twin = CALIBRATED.format(name=r.name)
        for side, m in (("before", r.metrics), ("after", points.get(twin))):
            if m is None:
                continue
            r.calibration[side] = {s.key: s.get(m) for s in calibration_specs}
            r.calibration[f"{side}_intervals"] = {s.key: m["intervals"].get(s.key) for s in calibration_specs}
        after = r.calibration.get("after")
        if after and after["ece"] > r.calibration["before"]["ece"]:
            r.calibration["note"] = (
                f"Temperature scaling (T = {r.calibration['temperature']:.2f}, fitted on the validation split) "
                f"raises the test ECE from {r.calibration['before']['ece']:.3f} to {after['ece']:.3f}: the "
                "validation split does not behave like the test split (see the dataset audit), so the "
                "validation-fitted temperature does not transfer.")

    # Validation predictions (checked to cover the same images) and the de-duplicated test split (the
    # same images for every model) are resampled jointly too.
    with_validation = [r for r in results if r.validation_frame is not None]
    with_intervals({r.name: r.validation_frame for r in with_validation},
                    {r.name: r.validation for r in with_validation}, settings)
    with_dedup = [r for r in results if r.dedup is not None and r.dedup.get("n")]
    with_intervals({r.name: dedup_frame(r.frame, r.duplicated) for r in with_dedup},
                    {r.name: r.dedup for r in with_dedup}, settings)

    # One model per seed group is compared (its seed-0 training); the seeds speak through the summary.
    compared = [members[0] for members in seed_groups([r.name for r in results]).values()]
    comparison = compare_models({n: contexts[n] for n in compared}, points, replicates, alpha=settings.alpha,
                                confidence=settings.bootstrap.confidence)
    metrics_by_model = {r.name: r.metrics for r in results}
    seeds = seed_summary(metrics_by_model, metrics(where="seeds", overall=True))
    validation = {r.name: r.validation for r in results if r.validation is not None}
    advice = recommend(metrics_by_model, selection_metrics=validation, evaluated_on=evaluated_on,
                       comparison=comparison, seeds=seeds)
    return Assessment(comparison, seeds, advice, settings, interval_method(settings.bootstrap, classes=(
        next(iter(contexts.values())).classes if contexts else CLASS_NAMES)), replicates)


def assess_external(results: Sequence[ModelResult], settings: EvaluationSettings
                    ) -> tuple[Replicates | None, Replicates | None]:
    """Intervals of models scored on one external test set (all of it, and without its copies of the
    run's images, `dedup`), every model resampled together; returns both sets' bootstrap values."""
    _, full = with_intervals({r.name: r.frame for r in results}, {r.name: r.metrics for r in results}, settings)
    clean = [r for r in results if r.dedup is not None and r.dedup.get("n")]
    _, without = with_intervals({r.name: dedup_frame(r.frame, r.duplicated) for r in clean},
                                {r.name: r.dedup for r in clean}, settings)
    return full, without


def interval_of(metrics_dict: dict, column: str) -> list[float] | None:
    """The [low, high] interval of a metric column in a metrics dict (None when absent)."""
    found = (metrics_dict or {}).get("intervals", {}).get(column)
    return None if found is None or any(v is None or not np.isfinite(v) for v in found) else found
