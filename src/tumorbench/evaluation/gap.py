"""The generalisation gap: a model's score on an external test set minus its score on the run's own test
split, with an interval.

The two test sets are different images, so each is resampled on its own (`bootstrap.bootstrap`, with
different seeds: independent resamples) and the gap of resample k is the external value of resample k
minus the source value of resample k; its percentile interval is the gap's. Rank metrics (AUC), whose
intervals come from the delta method, combine their two standard errors as independent estimates do:
se = sqrt(se_source² + se_external²), recovered from each normal interval's half-width.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import norm

from tumorbench.evaluation.bootstrap import Replicates, percentile_interval
from tumorbench.evaluation.declared import metric, metrics
from tumorbench.evaluation.settings import EvaluationSettings

#: the scores whose gap is reported: registered metric keys, and BINARY_AUC, the AUC of tumour vs no
#: tumour (`binary.binary_view`, kept in a metrics dict's `binary` entry), when defined
BINARY_AUC = "binary_auc"
GAP_METRICS = ("accuracy", "macro_f1", BINARY_AUC)
LABELS = {BINARY_AUC: "tumour vs no tumour AUC"}


def gap_metrics() -> list[str]:
    """The keys of GAP_METRICS that can be computed (registered, or the binary view's)."""
    known = {m.key for m in metrics(overall=True)} | {BINARY_AUC}
    return [k for k in GAP_METRICS if k in known]


def gap_label(key: str) -> str:
    return LABELS.get(key) or metric(key).label


def value_and_interval(m: dict | None, key: str) -> tuple[float | None, list[float] | None, str]:
    """A gap metric's value, its interval and its bootstrap column in a metrics dict."""
    if not m:
        return None, None, key
    if key == BINARY_AUC:
        view = m.get("binary") or {}
        value = view.get("auc") if view.get("defined") else None
        return value, (view.get("intervals") or {}).get("auc"), key
    spec = metric(key)
    value = spec.get(m)
    return value, (m.get("intervals") or {}).get(spec.column()), spec.column()


def independent_settings(settings: EvaluationSettings, k: int) -> EvaluationSettings:
    """Settings whose bootstrap draws resamples independent of `settings`' (the k-th external test set)."""
    boot = dataclasses.replace(settings.bootstrap, seed=settings.bootstrap.seed + 1000 * (k + 1))
    return dataclasses.replace(settings, bootstrap=boot)


def _value(m: dict, key: str) -> float | None:
    value = value_and_interval(m, key)[0]
    return None if value is None or not np.isfinite(value) else float(value)


def metric_gap(key: str, source: dict, external: dict, *, confidence: float,
               source_reps: Replicates | None = None, external_reps: Replicates | None = None,
               model: str = "") -> dict:
    """{source, external, gap, interval} of one metric; interval None when it cannot be made."""
    a, b = _value(source, key), _value(external, key)
    out = {"source": a, "external": b, "gap": None if a is None or b is None else b - a, "interval": None}
    if out["gap"] is None:
        return out
    column = value_and_interval(source, key)[2]
    values = [r.values.get(model, {}).get(column) if r is not None else None for r in (source_reps, external_reps)]
    if values[0] is not None and values[1] is not None and len(values[0]) == len(values[1]):
        diff = values[1] - values[0]
        if np.isfinite(diff).any():
            out["interval"] = list(percentile_interval(diff, confidence))
        return out
    cis = [value_and_interval(m, key)[1] for m in (source, external)]
    if all(ci is not None for ci in cis):
        z = norm.ppf(0.5 + confidence / 2)
        se = np.sqrt(sum(((hi - lo) / (2 * z)) ** 2 for lo, hi in cis))
        out["interval"] = [out["gap"] - z * se, out["gap"] + z * se]
    return out


def generalisation_gap(source: Mapping[str, dict], external: Mapping[str, dict], *, confidence: float,
                       source_reps: Replicates | None = None, external_reps: Replicates | None = None,
                       keys: Sequence[str] | None = None) -> dict:
    """{model: {metric: metric_gap}} for every model scored on both test sets (metrics `keys`, default
    `gap_metrics()`)."""
    return {name: {key: metric_gap(key, source[name], external[name], confidence=confidence,
                                   source_reps=source_reps, external_reps=external_reps, model=name)
                   for key in (gap_metrics() if keys is None else keys)}
            for name in external if name in source}
