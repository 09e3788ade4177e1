"""The external test sets of a run folder, evaluated: metrics with intervals (all images, and without the
copies of the run's own images), the generalisation gap per model, and which model generalises best.

Read only from the run folder (external/<name>/ and models/<model>/predictions_external_<name>.csv), so
`tumorbench report` rebuilds it without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tumorbench._io import read_json
from tumorbench.evaluation.bootstrap import Replicates
from tumorbench.evaluation.model_result import ModelResult, evaluate_model
from tumorbench.evaluation.settings import EvaluationSettings
from tumorbench.runfolder import EXTERNAL_COPIES, EXTERNAL_INFO, RunFolder, external_predictions_file

WITHOUT_COPIES = "external images with no exact or near copy among the run's training or validation images"


@dataclass
class ExternalResult:
    info: dict  # dataset.json: identity, status, reason
    results: list[ModelResult] = field(default_factory=list)  # one per model that predicted it
    copies: pd.DataFrame | None = None  # copies.csv: image, label, kind, match, match_label
    # {model: {"all": {metric: gap}, "without_copies": {metric: gap}}} (evaluation.gap.metric_gap)
    gap: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    replicates: Replicates | None = field(default=None, repr=False)  # bootstrap values, all images
    replicates_clean: Replicates | None = field(default=None, repr=False)  # without the copies
    # Every class of the set is a class of the models: scored as they are (accuracy, macro-F1, ...). A set
    # with other classes (a yes/no set's `tumor`) is scored on the tumour vs no-tumour view only, as the
    # per-class metrics would leave its other images out.
    multiclass: bool = True

    def metric_keys(self) -> list[str]:
        """The gap metrics this set is scored on."""
        from tumorbench.evaluation.gap import BINARY_AUC, gap_metrics

        return gap_metrics() if self.multiclass else [BINARY_AUC]

    name = property(lambda self: self.info["name"])
    label = property(lambda self: self.info.get("label") or self.info["name"])
    scored = property(lambda self: self.info.get("status") == "scored" and bool(self.results))

    def to_dict(self) -> dict:
        """metrics.json's `external.<name>` entry."""
        out = {"dataset": {k: v for k, v in self.info.items() if k not in ("status", "reason")},
               "status": "scored" if self.scored else "unusable", "notes": self.notes}
        if not self.scored:
            out["reason"] = self.info.get("reason") or "no model predicted it"
            return out
        out["copies"] = {"n": 0 if self.copies is None else len(self.copies), "definition": WITHOUT_COPIES,
                         "images": [] if self.copies is None else self.copies.to_dict("records")}
        out["scored_on"] = "every metric" if self.multiclass else "the tumour vs no-tumour view (binary)"
        out["models"] = {r.name: {**r.metrics, "without_copies": r.dedup} for r in self.results}
        out["gap"] = self.gap
        return out


def load_externals(run_dir: Path, settings: EvaluationSettings | None = None) -> list[ExternalResult]:
    """Every external dataset of the run folder, evaluated with intervals (no gap yet: `add_gaps`)."""
    from tumorbench.evaluation.assess import assess_external
    from tumorbench.evaluation.binary import binary_view
    from tumorbench.evaluation.model_result import dedup_frame
    from tumorbench.evaluation.gap import independent_settings
    from tumorbench.predictions.io import check_same_images, frame_classes, read_predictions

    run = RunFolder(Path(run_dir))
    settings = settings or EvaluationSettings()
    out = []
    for k, name in enumerate(run.external_names()):
        folder = run.external(name)
        ext = ExternalResult(read_json(folder / EXTERNAL_INFO))
        out.append(ext)
        if ext.info.get("status") != "scored":
            continue
        try:
            frames = {m.name: read_predictions(external_predictions_file(m, name)) for m in run.model_folders()
                      if external_predictions_file(m, name).is_file()}
        except ValueError as exc:  # one external set's unreadable file must not cost the report
            ext.info = {**ext.info, "status": "unusable", "reason": f"{exc}"}
            continue
        if not frames:
            ext.info = {**ext.info, "status": "unusable", "reason": f"{run.models_dir}: no model has predictions of "
                        f"{name}; score it again with `tumorbench predict {run.root} --data {ext.info['root']}`"}
            continue
        check_same_images({str(external_predictions_file(run.model(m), name)): f for m, f in frames.items()})
        ext.multiclass = set(ext.info.get("classes") or []) <= set(frame_classes(next(iter(frames.values()))))
        if not ext.multiclass:
            ext.notes.append(f"Its classes ({', '.join(ext.info.get('classes') or [])}) are not all classes of the "
                             "models: it is scored on the tumour vs no-tumour view, the per-class metrics (which "
                             "leave its other images out) are not shown.")
        copies_path = folder / EXTERNAL_COPIES
        ext.copies = (pd.read_csv(copies_path, keep_default_na=False, dtype=str) if copies_path.is_file()
                      else None)
        if ext.copies is None:
            ext.notes.append(f"No {EXTERNAL_COPIES}: the copies of the run's images were not searched; every "
                             "score is on all images.")
        duplicated = None if ext.copies is None else dict(zip(ext.copies["image"], ext.copies["kind"]))
        # Resampled independently of the run's own test split (and of the other external sets).
        own = independent_settings(settings, k)
        for model, frame in frames.items():
            result = evaluate_model(model, frame, source=external_predictions_file(run.model(model), name),
                                    duplicated=duplicated, settings=own)
            # The binary view travels inside the metrics dicts here: the gap and the section read it there.
            result.metrics["binary"] = result.binary
            if result.dedup is not None:
                result.dedup["definition"] = WITHOUT_COPIES
                clean = dedup_frame(frame, duplicated)
                if len(clean) and (clean["label"].astype(str) != "").any():
                    result.dedup["binary"] = binary_view(clean, settings=own)
            ext.results.append(result)
        ext.replicates, ext.replicates_clean = assess_external(ext.results, own)
    return out


def scored_without_copies(result: ModelResult) -> dict | None:
    """A model's scores on the external set without its copies, when any image is left to score."""
    dedup = result.dedup
    if dedup and (dedup.get("n") or (dedup.get("binary") or {}).get("defined")):
        return dedup
    return None


def source_points(source: Sequence[ModelResult]) -> dict[str, dict]:
    """The run's own test metrics per model, with the binary view inside (where the gap reads it)."""
    return {r.name: {**r.metrics, "binary": r.binary} for r in source}


def add_gaps(externals: Sequence[ExternalResult], source: Sequence[ModelResult], *, replicates: Replicates | None,
             confidence: float) -> None:
    """Each external's generalisation gap per model: its score there minus on the run's test split."""
    from tumorbench.evaluation.gap import generalisation_gap

    points = source_points(source)
    for ext in externals:
        if not ext.scored:
            continue
        keys = ext.metric_keys()
        full = generalisation_gap(points, {r.name: r.metrics for r in ext.results}, confidence=confidence,
                                  source_reps=replicates, external_reps=ext.replicates, keys=keys)
        clean = generalisation_gap(points, {r.name: scored_without_copies(r) for r in ext.results
                                            if scored_without_copies(r)},
                                   confidence=confidence, source_reps=replicates, external_reps=ext.replicates_clean,
                                   keys=keys)
        ext.gap = {model: {"all": full[model], "without_copies": clean.get(model)} for model in full}


def headline_key(ext: ExternalResult) -> str:
    """The score a set ranks models by: macro-F1, or the binary AUC for a set scored on the binary view."""
    from tumorbench.evaluation.gap import BINARY_AUC

    return "macro_f1" if ext.multiclass else BINARY_AUC


def _external_score(ext: ExternalResult, model: str) -> tuple[float | None, str]:
    """The model's headline score on the external set without its copies (all images when none is left)."""
    from tumorbench.evaluation.gap import value_and_interval

    result = next((r for r in ext.results if r.name == model), None)
    if result is None:
        return None, ""
    clean = scored_without_copies(result)
    value = value_and_interval(clean, headline_key(ext))[0] if clean else None
    if value is not None:
        return value, "without copies"
    return value_and_interval(result.metrics, headline_key(ext))[0], "all images"


def generalisation(externals: Sequence[ExternalResult], source_ranking: Sequence[str]) -> dict | None:
    """Which model generalises best: the highest mean headline score over the external sets (macro-F1, or
    the tumour vs no-tumour AUC for a set scored on the binary view), each without its copies of the run's
    images, among models scored on every one; None without a scored external."""
    scored = [e for e in externals if e.scored]
    if not scored:
        return None
    models = [m for m in source_ranking if all(_external_score(e, m)[0] is not None for e in scored)]
    if not models:
        return None
    means = {m: sum(_external_score(e, m)[0] for e in scored) / len(scored) for m in models}
    ranking = sorted(models, key=lambda m: -means[m])
    best = ranking[0]
    parts = []
    from tumorbench.evaluation.gap import gap_label

    for e in scored:
        value, basis = _external_score(e, best)
        gap = (e.gap.get(best) or {}).get("without_copies" if basis == "without copies" else "all") or {}
        g = gap.get(headline_key(e)) or {}
        ci = g.get("interval")
        parts.append(f"{e.label} {gap_label(headline_key(e))} {value:.3f} ({basis}"
                     + (f"; gap {g['gap']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] from the run's test split" if ci else "")
                     + ")")
    summary = [f"Generalises best: {best}, mean score {means[best]:.3f} over the external test sets ("
               + "; ".join(parts) + ")."]
    if source_ranking and source_ranking[0] != best:
        summary.append(f"The model preferred on the run's own data, {source_ranking[0]}, generalises less well "
                       f"(mean external score {means.get(source_ranking[0], float('nan')):.3f}): for images from "
                       f"other sources, prefer {best}.")
    summary.append("The external test sets played no part in training or choosing; a model picked by its external "
                   "score makes them validation sets: confirm it on yet another source.")
    return {"best": best, "ranking": ranking, "mean_score": means,
            "scores": {e.name: headline_key(e) for e in scored},
            "basis": "mean over the external test sets of macro-F1 (the tumour vs no-tumour AUC for a set whose "
                     "classes are not the models', such as a yes/no set), each without its copies of the run's "
                     "training and validation images (all images when nothing is left)", "summary": summary}
