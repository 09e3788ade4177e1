"""Confidence intervals for every registered metric: a vectorised stratified bootstrap, and the delta
method for rank metrics.

The bootstrap resamples test images with replacement within each true class (stratified: every
resample keeps the class counts, as a fixed test split does). A resample is a row of counts w (how
often each image was drawn); every bootstrapped metric is a function of sums over images of per-image
features (confusion-matrix cell, loss, calibration-bin gap, ...), so all resamples and all models are
one matrix product W @ F, and each metric's `batch` function turns the sums into values. Every model
is resampled with the same rows of W, so differences between models are paired.

Intervals: percentile by default; `bca` gives Efron's bias-corrected and accelerated interval, with the
bias from the share of resamples below the estimate and the acceleration from the jackknife (whose
sums are total - F[i], so it costs no extra pass). Both are what `scipy.stats.bootstrap` computes; it is
not used directly because it cannot stratify, nor share resamples across metrics and models.

Rank metrics (AUC, AP) are not re-sorted per resample: their interval is estimate ± z·SE from their
influence values (`rank.py`), which for the AUC is DeLong's interval.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import norm

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.declared import ScoreContext, columns, feature, metrics
from tumorbench.evaluation.rank import delta_se
from tumorbench.evaluation.settings import BootstrapSettings

# Resamples drawn per block: bounds memory (block x images x 4 bytes); smaller blocks make the matrix
# product markedly slower (500: 2.6 times the time of 2000 on this project's 2-core machine). Fixed, so
# that the same seed always gives the same resamples.
BLOCK = 2000


def resample_counts(strata: np.ndarray, *, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of (rows, n_images) float32 counts: how often each image is drawn in each resample,
    drawing within each stratum as many images as it has."""
    strata = np.asarray(strata)
    n = len(strata)
    members = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, BLOCK):
        rows = min(BLOCK, resamples - start)
        # int32 draws: half the memory traffic of numpy's default int64, and rows * n stays far below 2**31.
        drawn = np.concatenate([m[rng.integers(0, len(m), (rows, len(m)), dtype=np.int32)] for m in members],
                               axis=1, dtype=np.int32)
        flat = (drawn + (np.arange(rows, dtype=np.int32) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float32)


@dataclass
class _Layout:
    """Where each case's features sit in the joint feature matrix."""

    slices: dict[str, dict[str, tuple[slice, tuple[int, ...]]]] = field(default_factory=dict)


def _features(contexts: Mapping[str, ScoreContext], names: list[str]) -> tuple[np.ndarray, _Layout]:
    blocks, layout, offset = [], _Layout(), 0
    for case, ctx in contexts.items():
        layout.slices[case] = {}
        for name in names:
            f = feature(name)
            values = np.asarray(f.build(ctx), dtype=np.float64).reshape(len(ctx.y_true), -1)
            layout.slices[case][name] = (slice(offset, offset + values.shape[1]), f.shape(ctx))
            offset += values.shape[1]
            blocks.append(values)
    return np.concatenate(blocks, axis=1), layout


def _evaluate(sums: np.ndarray, layout: _Layout, contexts: Mapping[str, ScoreContext], specs) -> dict:
    """Every bootstrapped metric of every case from the summed features (rows = resamples)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for case, ctx in contexts.items():
        # Contiguous copies: reductions over the small trailing axes of a strided view are several times slower.
        agg = {name: np.ascontiguousarray(sums[:, where], dtype=np.float64).reshape(len(sums), *shape)
               for name, (where, shape) in layout.slices[case].items()}
        agg["cost_matrix"] = ctx.cost_matrix
        agg["present"] = ctx.present  # the macro averages' classes: those of the images scored, every resample
        values = {}
        for spec in specs:
            result = np.asarray(spec.batch(agg), dtype=np.float64)
            for k, (column, _) in enumerate(columns(spec, ctx.classes)):
                values[column] = result[:, k] if spec.per_class else result
        out[case] = values
    return out


@dataclass
class Replicates:
    """Bootstrap values of every bootstrapped metric: `values[case][column]` has one value per resample
    (the same resamples for every case), `jackknife[case][column]` one per left-out image (bca only)."""

    values: dict[str, dict[str, np.ndarray]]
    jackknife: dict[str, dict[str, np.ndarray]] | None
    settings: BootstrapSettings
    strata: np.ndarray
    estimates: dict[str, dict[str, float]]  # the same arithmetic on every image once (the point values)


def bootstrap(contexts: Mapping[str, ScoreContext], settings: BootstrapSettings | None = None) -> Replicates:
    """Resample the images of every case (models on the same images, in the same order) together.

        reps = bootstrap({"m": ctx}, BootstrapSettings(resamples=1000))
        reps.values["m"]["accuracy"].shape
        # -> (1000,)
    """
    settings = settings or BootstrapSettings()
    contexts = dict(contexts)
    if not contexts:
        raise ValueError("nothing to bootstrap: no model given")
    first = next(iter(contexts.values()))
    for case, ctx in contexts.items():
        if not np.array_equal(ctx.y_true, first.y_true):
            raise ValueError(f"{case}: bootstrapped cases must hold the same images in the same order")
    specs = metrics(interval="bootstrap")
    names = sorted({n for spec in specs for n in spec.needs})
    features, layout = _features(contexts, names)
    f32 = features.astype(np.float32)
    # Sums of every resample first (float32 products, exact for the counts), then each metric once over
    # all resamples: fewer, larger array operations than metric arithmetic per block.
    sums = np.empty((settings.resamples, f32.shape[1]), dtype=np.float32)
    start = 0
    for weights in resample_counts(first.y_true, resamples=settings.resamples, seed=settings.seed):
        np.matmul(weights, f32, out=sums[start:start + len(weights)])
        start += len(weights)
    values = _evaluate(sums, layout, contexts, specs)
    jackknife = None
    if settings.method == "bca":
        jackknife = _evaluate(features.sum(axis=0)[None, :] - features, layout, contexts, specs)
    whole = _evaluate(features.sum(axis=0)[None, :], layout, contexts, specs)
    estimates = {case: {c: float(v[0]) for c, v in cols.items()} for case, cols in whole.items()}
    return Replicates(values, jackknife, settings, first.y_true, estimates)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1 - confidence
    finite = values[np.isfinite(values)]
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bca_interval(values: np.ndarray, estimate: float, jackknife: np.ndarray,
                 confidence: float) -> tuple[float, float]:
    """Efron's BCa interval (the arithmetic of scipy.stats.bootstrap's 'BCa'); percentile when the bias
    correction is undefined (every resample on one side of the estimate)."""
    alpha = 1 - confidence
    share = ((values < estimate).sum() + (values <= estimate).sum()) / (2 * len(values))
    if share <= 0 or share >= 1:
        return percentile_interval(values, confidence)
    z0 = ndtri(share)
    spread = jackknife.mean() - jackknife
    denominator = 6 * (spread ** 2).sum() ** 1.5
    a = (spread ** 3).sum() / denominator if denominator > 0 else 0.0
    ends = []
    for z in (ndtri(alpha / 2), ndtri(1 - alpha / 2)):
        ends.append(ndtr(z0 + (z0 + z) / (1 - a * (z0 + z))))
    lo, hi = np.quantile(values, ends)
    return float(lo), float(hi)


def delta_interval(estimate: float, se: float, confidence: float) -> tuple[float, float]:
    z = norm.ppf(0.5 + confidence / 2)
    return float(max(0.0, estimate - z * se)), float(min(1.0, estimate + z * se))


def intervals(contexts: Mapping[str, ScoreContext], points: Mapping[str, dict] | None = None,
              settings: BootstrapSettings | None = None, *, replicates: Replicates | None = None) -> dict:
    """{case: {column: [low, high]}} for every registered metric (None where the metric is undefined).

    `points` are the cases' metric dicts (classification_metrics), whose values the intervals surround;
    without them the estimates come from the bootstrap's own arithmetic on all images."""
    settings = settings or BootstrapSettings()
    replicates = replicates or bootstrap(contexts, settings)
    out: dict[str, dict] = {}
    alpha = 1 - settings.confidence
    for case, ctx in contexts.items():
        boot_columns = [(spec, column, cls) for spec in metrics(interval="bootstrap")
                        for column, cls in columns(spec, ctx.classes)]
        ci: dict[str, list[float] | None] = {}
        table = np.stack([replicates.values[case][column] for _, column, _ in boot_columns], axis=1)
        # Every percentile interval of the case in one call (NaN: a resample where the value is undefined).
        quantile = np.quantile if np.isfinite(table).all() else np.nanquantile
        bounds = quantile(table, [alpha / 2, 1 - alpha / 2], axis=0) if settings.method != "bca" else None
        for i, (spec, column, cls) in enumerate(boot_columns):
            estimate = spec.get(points[case], cls) if points else replicates.estimates[case][column]
            values = table[:, i]
            if estimate is None or not np.isfinite(values).any():
                ci[column] = None
            elif settings.method == "bca":
                ci[column] = list(bca_interval(values, estimate, replicates.jackknife[case][column],
                                               settings.confidence))
            else:
                ci[column] = [float(bounds[0, i]), float(bounds[1, i])]
        for spec in metrics(interval="delta"):
            estimates, phi, strata = spec.influence(ctx)
            if spec.per_class:
                for k, (column, cls) in enumerate(columns(spec, ctx.classes)):
                    if points and spec.get(points[case], cls) is None:  # an absent class: no per-class value
                        ci[column] = None
                        continue
                    ci[column] = (None if estimates[k] is None else
                                  list(delta_interval(estimates[k], delta_se(phi[:, k], strata[:, k]),
                                                      settings.confidence)))
            else:
                ci[spec.column()] = (None if estimates is None else
                                     list(delta_interval(estimates, delta_se(phi, strata), settings.confidence)))
        out[case] = ci
    return out


def interval_method(settings: BootstrapSettings, classes=CLASS_NAMES) -> dict:
    """How the intervals were made, for metrics.json and the report."""
    return {
        "confidence": settings.confidence,
        "bootstrap": {"method": settings.method, "resamples": settings.resamples, "seed": settings.seed,
                      "stratified_by": "true class"},
        "rank_metrics": "delta method on per-image influence values (DeLong's structural components for AUC)",
        "rank_metric_keys": [c for spec in metrics(interval="delta") for c, _ in columns(spec, classes)],
        "classes": list(classes),
    }
