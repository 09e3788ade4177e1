"""Intervals of ratios of per-image counts (sensitivity = TP / (TP + FN), ...) with the project's bootstrap.

The binary view and the operating points are ratios of sums over images of 0/1 columns, outside the
four-class metric registry (their class set is "tumour / no tumour", or one class against the rest). They
are resampled exactly as the registry's metrics are: `bootstrap.resample_counts` (within each stratum,
seeded by `evaluation.bootstrap.seed`), summed by one matrix product, and the percentile or BCa interval
of `bootstrap.py` (BCa's jackknife is "total minus one image", as there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tumorbench.evaluation.bootstrap import bca_interval, percentile_interval, resample_counts
from tumorbench.evaluation.settings import BootstrapSettings

#: a ratio: (numerator columns, denominator columns) of the feature matrix, each summed
Ratio = tuple[Sequence[int], Sequence[int]]


def _ratios(sums: np.ndarray, ratios: Mapping[str, Ratio]) -> dict[str, np.ndarray]:
    """Each ratio for every row of `sums` (rows: resamples); NaN where the denominator is 0."""
    out = {}
    for name, (num, den) in ratios.items():
        top = sums[:, list(num)].sum(axis=1)
        bottom = sums[:, list(den)].sum(axis=1)
        out[name] = np.divide(top, bottom, out=np.full(len(sums), np.nan), where=bottom > 0)
    return out


def ratio_intervals(features: np.ndarray, ratios: Mapping[str, Ratio], strata: np.ndarray,
                    settings: BootstrapSettings | None = None) -> dict[str, tuple[float | None, list[float] | None]]:
    """{name: (value on every image, [low, high])} of each ratio of summed feature columns.

    `features` is (n_images, n_columns) of per-image counts; a value is None when its denominator is 0
    on the images given, an interval None when no resample defines it.

    >>> f = np.array([[1, 0], [1, 0], [0, 1]])  # columns: hit, miss
    >>> value, ci = ratio_intervals(f, {"recall": ([0], [0, 1])}, np.zeros(3))["recall"]
    >>> round(value, 3)
    0.667
    """
    settings = settings or BootstrapSettings()
    features = np.asarray(features, dtype=np.float64)
    total = features.sum(axis=0)[None, :]
    whole = _ratios(total, ratios)
    f32 = features.astype(np.float32)
    sums = np.concatenate([w @ f32 for w in resample_counts(strata, resamples=settings.resamples,
                                                             seed=settings.seed)]).astype(np.float64)
    replicates = _ratios(sums, ratios)
    jackknife = _ratios(total - features, ratios) if settings.method == "bca" else None
    out = {}
    for name in ratios:
        value = float(whole[name][0]) if np.isfinite(whole[name][0]) else None
        values = replicates[name]
        finite = values[np.isfinite(values)]
        if value is None or not len(finite):
            out[name] = (value, None)
        elif settings.method == "bca" and np.isfinite(jackknife[name]).all():
            out[name] = (value, list(bca_interval(finite, value, jackknife[name], settings.confidence)))
        else:
            out[name] = (value, list(percentile_interval(finite, settings.confidence)))
    return out
