"""Paired comparisons of models scored on the same test images.

- Accuracy: McNemar's test on the images where exactly one of the two models is right (exact binomial
  when fewer than `EXACT_BELOW` images flip, chi-square with continuity correction otherwise), with the
  flip counts; across more than two models, Cochran's Q first (statsmodels).
- Metrics marked `paired` in the registry (macro-F1, balanced accuracy, expected cost, ...): the
  paired bootstrap of the difference (both models on the same resamples), its percentile interval and
  the two-sided p-value 2·min(P*(Δ <= 0), P*(Δ >= 0)) (with the +1 correction of Davison & Hinkley).
- Per-class AUC: DeLong's test for correlated ROC curves (the influence values of `rank.py`).
- Holm's correction over all pairs compared, for each metric separately; the report says which
  differences survive it. (Written out here: statsmodels' `multipletests` gives the same numbers, as
  the tests check, but runs a full garbage collection on every call, 0.2 s each in a report process.)

Differences are always model a minus model b; for a lower-is-better metric a negative difference
favours a.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
from scipy.stats import norm
from statsmodels.stats.contingency_tables import cochrans_q, mcnemar

from tumorbench.evaluation.bootstrap import Replicates, percentile_interval
from tumorbench.evaluation.declared import ScoreContext, metric, metrics
from tumorbench.evaluation.rank import auc_influence, delta_se

# Fewer discordant images than this: the exact binomial test (the chi-square approximation is poor there).
EXACT_BELOW = 25


@dataclass
class PairedTest:
    metric: str  # registry column (accuracy, macro_f1, glioma_auc, ...)
    label: str
    a: str
    b: str
    estimate_a: float
    estimate_b: float
    difference: float  # a - b
    low: float  # interval of the difference
    high: float
    p_value: float
    test: str  # "McNemar exact", "McNemar chi-square", "paired bootstrap", "DeLong"
    higher_is_better: bool
    p_holm: float | None = None
    significant: bool | None = None  # the Holm-adjusted p-value is below alpha
    a_only: int | None = None  # McNemar: images only a gets right
    b_only: int | None = None  # ... only b gets right

    @property
    def better(self) -> str | None:
        """The model the difference favours, when it survives Holm's correction."""
        if not self.significant:
            return None
        return self.a if (self.difference > 0) == self.higher_is_better else self.b

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    models: list[str]
    tests: list[PairedTest] = field(default_factory=list)
    cochran_q: dict | None = None  # {"statistic", "df", "p_value"} across all models (more than two)
    alpha: float = 0.05
    confidence: float = 0.95  # level of the intervals of the differences

    def pair(self, a: str, b: str, column: str) -> PairedTest | None:
        """The test of `column` between a and b, oriented as a - b (flipped when stored as b - a)."""
        for t in self.tests:
            if t.metric != column:
                continue
            if (t.a, t.b) == (a, b):
                return t
            if (t.a, t.b) == (b, a):
                return PairedTest(**{**asdict(t), "a": a, "b": b, "estimate_a": t.estimate_b,
                                     "estimate_b": t.estimate_a, "difference": -t.difference, "low": -t.high,
                                     "high": -t.low, "a_only": t.b_only, "b_only": t.a_only})
        return None

    def to_dict(self) -> dict:
        return {"models": self.models, "alpha": self.alpha, "confidence": self.confidence,
                "cochran_q": self.cochran_q,
                "correction": "Holm over all pairs, per metric",
                "tests": [t.to_dict() for t in self.tests]}


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, str, int, int]:
    """(p-value, test name, images only a gets right, images only b gets right)."""
    a_only = int((correct_a & ~correct_b).sum())
    b_only = int((~correct_a & correct_b).sum())
    both = int((correct_a & correct_b).sum())
    neither = int((~correct_a & ~correct_b).sum())
    exact = a_only + b_only < EXACT_BELOW
    if a_only + b_only == 0:
        return 1.0, "McNemar exact", 0, 0
    result = mcnemar([[both, a_only], [b_only, neither]], exact=exact, correction=True)
    return float(result.pvalue), "McNemar exact" if exact else "McNemar chi-square", a_only, b_only


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of a paired bootstrap: twice the smaller tail share at zero."""
    d = differences[np.isfinite(differences)]
    below = (np.sum(d <= 0) + 1) / (len(d) + 1)
    above = (np.sum(d >= 0) + 1) / (len(d) + 1)
    return float(min(1.0, 2 * min(below, above)))


def delong_test(y_true: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                confidence: float = 0.95) -> tuple[float, float, float, float, float] | None:
    """DeLong's test of two correlated one-vs-rest AUCs: (auc_a, auc_b, low, high, p) of auc_a - auc_b,
    None when the class has no positives or no negatives."""
    positive = np.asarray(y_true, dtype=bool)
    auc_a, phi_a = auc_influence(positive, scores_a)
    auc_b, phi_b = auc_influence(positive, scores_b)
    if auc_a is None:
        return None
    se = delta_se(phi_a - phi_b, positive)
    diff = auc_a - auc_b
    z = norm.ppf(0.5 + confidence / 2)
    p = 1.0 if se == 0 else float(2 * norm.sf(abs(diff) / se))
    return float(auc_a), float(auc_b), float(diff - z * se), float(diff + z * se), p


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values: the i-th smallest times (m - i), made monotone, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def holm(tests: list[PairedTest], alpha: float) -> None:
    """Holm-adjust the p-values of each metric over all its pairs (in place)."""
    for column in dict.fromkeys(t.metric for t in tests):
        family = [t for t in tests if t.metric == column]
        for t, p in zip(family, holm_adjust([t.p_value for t in family])):
            t.p_holm, t.significant = float(p), bool(p <= alpha)


def compare_models(contexts: dict[str, ScoreContext], points: dict[str, dict], replicates: Replicates, *,
                   alpha: float = 0.05, confidence: float = 0.95) -> Comparison:
    """Every pair of models: McNemar (accuracy), paired bootstrap (registry metrics marked `paired`,
    and the accuracy difference's interval), DeLong (per-class AUC); Holm over pairs; Cochran's Q."""
    names = list(contexts)
    result = Comparison(models=names, alpha=alpha, confidence=confidence)
    if len(names) < 2:
        return result
    correct = {n: ctx.y_pred == ctx.y_true for n, ctx in contexts.items()}
    accuracy = metric("accuracy")
    for a, b in combinations(names, 2):
        diff = replicates.values[a]["accuracy"] - replicates.values[b]["accuracy"]
        lo, hi = percentile_interval(diff, confidence)
        p, test, a_only, b_only = mcnemar_test(correct[a], correct[b])
        ea, eb = points[a]["accuracy"], points[b]["accuracy"]
        result.tests.append(PairedTest("accuracy", accuracy.label, a, b, ea, eb, ea - eb, lo, hi, p, test, True,
                                       a_only=a_only, b_only=b_only))
        for spec in metrics(where="paired", overall=True):
            if spec.interval != "bootstrap":
                continue
            diff = replicates.values[a][spec.key] - replicates.values[b][spec.key]
            lo, hi = percentile_interval(diff, confidence)
            ea, eb = spec.get(points[a]), spec.get(points[b])
            result.tests.append(PairedTest(spec.key, spec.label, a, b, ea, eb, ea - eb, lo, hi,
                                           bootstrap_p_value(diff), "paired bootstrap", spec.higher_is_better))
        auc = metric("auc")
        for k, cls in enumerate(contexts[a].classes):
            if not contexts[a].present[k]:  # an absent class has no AUC
                continue
            found = delong_test(contexts[a].y_true == k, contexts[a].probs[:, k], contexts[b].probs[:, k], confidence)
            if found is not None:
                ea, eb, lo, hi, p = found
                result.tests.append(PairedTest(auc.column(cls), f"{cls} {auc.label}", a, b, ea, eb, ea - eb, lo, hi,
                                               p, "DeLong", True))
    holm(result.tests, alpha)
    if len(names) > 2:
        q = cochrans_q(np.stack([correct[n] for n in names], axis=1).astype(int))
        result.cochran_q = {"statistic": float(q.statistic), "df": int(q.df), "p_value": float(q.pvalue),
                            "models": names}
    return result
