"""The evaluation layer: registry, new metrics, intervals, paired tests, calibration, seeds.

References: scikit-learn and statsmodels where they have the arithmetic, hand-computed cases where
they do not, an independent slow DeLong (Mann-Whitney structural components written out below), and
coverage on simulated data whose truth is known.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap as scipy_bootstrap
from scipy.stats import norm
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    matthews_corrcoef,
)
from statsmodels.stats.contingency_tables import cochrans_q, mcnemar
from statsmodels.stats.multitest import multipletests

from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation import calibration as cal
from tumorbench.evaluation.bootstrap import _evaluate, _features, bootstrap, intervals, resample_counts
from tumorbench.evaluation.classification import classification_metrics, score_context
from tumorbench.evaluation.declared import MetricSpec, columns, metrics, registered
from tumorbench.evaluation.paired import (
    EXACT_BELOW,
    bootstrap_p_value,
    compare_models,
    delong_test,
    holm_adjust,
    mcnemar_test,
)
from tumorbench.evaluation.rank import ap_influence, auc_influence, delta_se
from tumorbench.evaluation.recommend import recommend
from tumorbench.evaluation.seeds import beats_share, seed_groups, seed_summary, split_seed
from tumorbench.evaluation.settings import BootstrapSettings, EvaluationSettings, evaluation_settings
from tumorbench.predictions.io import predictions_frame, write_predictions

K = len(CLASS_NAMES)
GLIOMA, MENINGIOMA, NO_TUMOR, PITUITARY = range(K)


def softmax_case(n=400, *, seed=0, skill=1.5, labels=None, proportions=(0.3, 0.25, 0.2, 0.25)):
    rng = np.random.default_rng(seed)
    y = labels if labels is not None else rng.choice(K, n, p=proportions)
    logits = rng.normal(0, 1, (len(y), K))
    logits[np.arange(len(y)), y] += skill
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def one_hot(y_pred, confidence=0.7):
    probs = np.full((len(y_pred), K), (1 - confidence) / (K - 1))
    probs[np.arange(len(y_pred)), y_pred] = confidence
    return probs


# ---------------------------------------------------------------- the registry and the point metrics

def test_every_bootstrapped_metric_recomputes_its_point_value_from_the_aggregates():
    """Registry-generated: each metric's vectorised function, fed the sums of all images once, gives
    the point value (which uses scikit-learn where it has the metric)."""
    y, probs = softmax_case(300, seed=3)
    probs[:5] = one_hot(np.full(5, PITUITARY), 1.0)  # exact zeros and ones
    ctx = score_context(y, probs)
    points = classification_metrics(y, probs)
    specs = metrics(interval="bootstrap")
    features, layout = _features({"m": ctx}, sorted({n for s in specs for n in s.needs}))
    values = _evaluate(features.sum(axis=0)[None, :], layout, {"m": ctx}, specs)["m"]
    checked = 0
    for spec in specs:
        for column, cls in columns(spec):
            assert values[column][0] == pytest.approx(spec.get(points, cls), abs=1e-9), column
            checked += 1
    assert checked >= 40


def test_new_metrics_match_scikit_learn():
    y, probs = softmax_case(500, seed=1)
    m = classification_metrics(y, probs)
    y_pred = probs.argmax(axis=1)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, y_pred))
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y, y_pred))
    assert m["brier"] == pytest.approx(brier_score_loss(y, probs, labels=range(K)))
    for k, cls in enumerate(CLASS_NAMES):
        assert m["per_class"][cls]["ap"] == pytest.approx(average_precision_score(y == k, probs[:, k]))
    assert m["macro"]["ap"] == pytest.approx(np.mean([average_precision_score(y == k, probs[:, k]) for k in range(K)]))


def test_specificity_and_npv_by_hand():
    #                 gli  men  no  pit   (rows: true class)
    #   glioma    (4)  2    1    0   1
    #   meningioma(3)  0    3    0   0
    #   no_tumor  (1)  0    0    1   0
    #   pituitary (2)  1    0    0   1
    y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 3, 3])
    pred = np.array([0, 0, 1, 3, 1, 1, 1, 2, 0, 3])
    m = classification_metrics(y, one_hot(pred))["per_class"]
    # glioma: TN = 10 - 4 (true glioma) - 1 (FP) = 5; specificity 5/6; NPV = TN / (TN + FN) = 5/7
    assert m["glioma"]["specificity"] == pytest.approx(5 / 6)
    assert m["glioma"]["npv"] == pytest.approx(5 / 7)
    # meningioma: FP 1, TN 6, FN 0 -> specificity 6/7, NPV 1
    assert m["meningioma"]["specificity"] == pytest.approx(6 / 7)
    assert m["meningioma"]["npv"] == 1.0


def test_expected_cost_by_hand_default_and_custom():
    y = np.array([GLIOMA, GLIOMA, MENINGIOMA, PITUITARY, NO_TUMOR, NO_TUMOR])
    pred = np.array([NO_TUMOR, GLIOMA, NO_TUMOR, NO_TUMOR, GLIOMA, NO_TUMOR])
    # Default: three tumours called no_tumor (5 each), one no_tumor called glioma (1): 16 / 6.
    assert classification_metrics(y, one_hot(pred))["expected_cost"] == pytest.approx(16 / 6)
    custom = EvaluationSettings(cost_matrix={"glioma": {"no_tumor": 10}})  # every other error costs 1
    assert classification_metrics(y, one_hot(pred), settings=custom)["expected_cost"] == pytest.approx(13 / 6)
    # A perfect classifier costs nothing.
    assert classification_metrics(y, one_hot(y))["expected_cost"] == 0


def test_brier_and_calibration_errors_on_constructed_cases():
    y = np.array([0, 0, 0, 0])
    certain = one_hot(y, 1.0)
    assert classification_metrics(y, certain)["brier"] == 0
    uniform = np.full((4, K), 0.25)
    assert classification_metrics(y, uniform)["brier"] == pytest.approx(0.75)  # 0.75^2 + 3 * 0.25^2

    # Four images at confidence 0.9: three right -> bin gap 4 * 0.9 - 3 = 0.6 -> ECE 0.15 = MCE.
    y = np.array([0, 1, 2, 3])
    probs = one_hot(np.array([0, 1, 2, 0]), 0.9)
    assert cal.expected_calibration_error(y, probs) == pytest.approx(0.15)
    assert cal.maximum_calibration_error(y, probs) == pytest.approx(0.15)
    # Two bins: two images at 0.9 both right (gap -0.2), two at 0.6 both wrong (gap +1.2):
    # ECE = (0.2 + 1.2) / 4 = 0.35; MCE = max(0.1, 0.6) = 0.6.
    probs = np.vstack([one_hot(np.array([0, 1]), 0.9), one_hot(np.array([3, 0]), 0.6)])
    assert cal.expected_calibration_error(y, probs) == pytest.approx(0.35)
    assert cal.maximum_calibration_error(y, probs) == pytest.approx(0.6)
    # Class-wise ECE of glioma: p_glioma = [0.9, 0.1/3, 0.4/3, 0.6] against [1, 0, 0, 0], each in a bin
    # of its own (15 bins): gaps -0.1, +0.1/3, +0.4/3, +0.6.
    ece = cal.classwise_calibration_errors(y, probs)
    assert ece[0] == pytest.approx((0.1 + 0.1 / 3 + 0.4 / 3 + 0.6) / 4)
    m = classification_metrics(y, probs)
    assert m["per_class"]["glioma"]["ece"] == pytest.approx(ece[0])
    assert m["classwise_ece"] == pytest.approx(ece.mean())


# ---------------------------------------------------------------- rank metrics: influence and DeLong

def slow_delong(y_pos: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> tuple[float, float, float]:
    """DeLong et al. (1988) written out: Mann-Whitney kernels, structural components V10/V01, their
    covariance matrices S10/S01; returns (auc_a, auc_b, z-test p-value of the difference)."""
    pos, neg = np.flatnonzero(y_pos), np.flatnonzero(~y_pos)
    m, n = len(pos), len(neg)

    def kernel(scores):
        return np.array([[1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
                          for j in neg] for i in pos])

    psi = [kernel(scores_a), kernel(scores_b)]
    aucs = [p.mean() for p in psi]
    v10 = np.array([p.mean(axis=1) for p in psi])  # (2, m)
    v01 = np.array([p.mean(axis=0) for p in psi])  # (2, n)
    s10 = np.cov(v10)
    s01 = np.cov(v01)
    s = s10 / m + s01 / n
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (aucs[0] - aucs[1]) / np.sqrt(var)
    return aucs[0], aucs[1], 2 * norm.sf(abs(z))


def test_delong_matches_an_independent_slow_implementation():
    y, probs = softmax_case(150, seed=5, skill=1.0)
    _, other = softmax_case(150, seed=6, skill=1.3, labels=y)
    other = 0.5 * other + 0.5 * probs  # correlated with the first model, as two models on the same images are
    other[:20, 0] = np.round(other[:20, 0], 1)  # some ties
    for k in range(K):
        auc_a, auc_b, p = slow_delong(y == k, probs[:, k], other[:, k])
        fast = delong_test(y == k, probs[:, k], other[:, k])
        assert fast[0] == pytest.approx(auc_a) and fast[1] == pytest.approx(auc_b)
        assert fast[4] == pytest.approx(p, rel=1e-6)


def test_auc_interval_is_delongs():
    y, probs = softmax_case(120, seed=7, skill=0.8)
    pos = y == 0
    auc, phi = auc_influence(pos, probs[:, 0])
    m, n = pos.sum(), (~pos).sum()
    psi = (probs[pos, 0][:, None] > probs[~pos, 0][None, :]) + 0.5 * (probs[pos, 0][:, None] == probs[~pos, 0][None, :])
    var = psi.mean(axis=1).var(ddof=1) / m + psi.mean(axis=0).var(ddof=1) / n
    assert delta_se(phi, pos) == pytest.approx(np.sqrt(var))


def test_average_precision_influence_is_its_derivative():
    """phi_k = d AP / d w_k: compare with scikit-learn's AP under a small extra weight on one image."""
    y, probs = softmax_case(80, seed=8, skill=1.0)
    pos = y == 1
    scores = np.round(probs[:, 1], 2)  # ties, as in real predictions files
    ap, phi = ap_influence(pos, scores)
    assert ap == pytest.approx(average_precision_score(pos, scores))
    eps = 1e-6
    for k in [0, 1, 5, 17, 40, int(np.flatnonzero(pos)[0]), int(np.flatnonzero(~pos)[0])]:
        w = np.ones(len(y))
        w[k] += eps
        numeric = (average_precision_score(pos, scores, sample_weight=w) - ap) / eps
        assert phi[k] == pytest.approx(numeric, abs=1e-4), k


# ---------------------------------------------------------------- bootstrap

def test_resamples_are_stratified_and_reproducible():
    strata = np.array([0] * 30 + [1] * 10 + [2] * 5)
    blocks = list(resample_counts(strata, resamples=2500, seed=4))
    w = np.concatenate(blocks)
    assert w.shape == (2500, 45)
    assert (w[:, :30].sum(axis=1) == 30).all() and (w[:, 30:40].sum(axis=1) == 10).all()
    assert w[:, 40:].sum(axis=1).tolist() == [5] * 2500
    again = np.concatenate(list(resample_counts(strata, resamples=2500, seed=4)))
    assert np.array_equal(w, again)
    assert not np.array_equal(w, np.concatenate(list(resample_counts(strata, resamples=2500, seed=5))))
    # Each image is drawn once per resample on average.
    assert w.mean(axis=0) == pytest.approx(np.ones(45), abs=0.08)


def _truth(generator, proportions, keys, big=400_000):
    y = np.random.default_rng(99).choice(K, big, p=proportions)
    return {k: v for k, v in _flat(classification_metrics(y, generator(y, 12345))).items() if k in keys}


def _flat(m):
    out = {}
    for spec in metrics():
        for column, cls in columns(spec):
            out[column] = spec.get(m, cls)
    return out


def _generator(y, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(y), K))
    logits[np.arange(len(y)), y] += np.array([1.0, 1.6, 2.2, 1.3])[y]
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_intervals_cover_the_truth_about_95_percent_of_the_time():
    """300 simulated test sets of 400 images (class counts fixed, as a test split's are): the 95 %
    interval of each metric must contain the population value in 95 % of them. Tolerance: 0.90 to 0.99
    (the binomial standard error of a coverage over 300 sets is 0.013; 0.90 is four of them below).
    Bootstrap intervals (accuracy, macro-F1, ...) and delta-method ones (AUC, AP) alike."""
    proportions = np.array([0.3, 0.25, 0.2, 0.25])
    counts = (400 * proportions).astype(int)
    y = np.repeat(np.arange(K), counts)
    keys = ["accuracy", "macro_f1", "balanced_accuracy", "brier", "glioma_recall", "glioma_auc", "macro_auc",
            "no_tumor_ap", "expected_cost"]
    truth = _truth(_generator, counts / counts.sum(), keys)
    hits = {k: 0 for k in keys}
    sets = 300
    for i in range(sets):
        probs = _generator(y, i)
        ctx = score_context(y, probs)
        found = intervals({"m": ctx}, settings=BootstrapSettings(resamples=1000, seed=i))["m"]
        for k in keys:
            hits[k] += found[k][0] <= truth[k] <= found[k][1]
    coverage = {k: h / sets for k, h in hits.items()}
    print("coverage:", coverage)
    assert all(0.90 <= c <= 0.99 for c in coverage.values()), coverage


def test_bca_agrees_with_scipy():
    """One stratum (every image of one class) makes the stratified bootstrap an ordinary one: the BCa
    interval of the loss (a mean of skewed per-image losses) must match scipy.stats.bootstrap's BCa up to
    resampling noise, and differ from the percentile interval (the skew moves it)."""
    rng = np.random.default_rng(0)
    y = np.zeros(40, dtype=int)
    # Per-image losses drawn log-normal (heavy right tail): their mean has a skewed sampling distribution.
    p_true = np.exp(-rng.lognormal(0.0, 1.5, 40))
    probs = np.column_stack([p_true] + [(1 - p_true) / (K - 1)] * (K - 1))
    ctx = score_context(y, probs)
    points = {"m": classification_metrics(y, probs)}
    ours = intervals({"m": ctx}, points, BootstrapSettings(resamples=20000, method="bca", seed=1))["m"]["loss"]
    losses = -np.log(probs[:, 0])
    theirs = scipy_bootstrap((losses,), np.mean, n_resamples=20000, method="BCa",
                             rng=np.random.default_rng(2)).confidence_interval
    width = theirs.high - theirs.low
    assert ours[0] == pytest.approx(theirs.low, abs=0.03 * width)
    assert ours[1] == pytest.approx(theirs.high, abs=0.03 * width)
    percentile = intervals({"m": ctx}, points, BootstrapSettings(resamples=20000, seed=1))["m"]["loss"]
    assert abs(ours[1] - percentile[1]) > 0.05 * width


def test_models_share_resamples_so_differences_are_paired():
    y, probs = softmax_case(300, seed=2)
    contexts = {"a": score_context(y, probs), "b": score_context(y, probs.copy())}
    reps = bootstrap(contexts, BootstrapSettings(resamples=500))
    assert np.array_equal(reps.values["a"]["macro_f1"], reps.values["b"]["macro_f1"])


# ---------------------------------------------------------------- paired tests

def test_mcnemar_against_statsmodels_exact_and_chi_square():
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.75
    b = a.copy()
    b[:6] = ~b[:6]  # few flips: exact binomial
    p, test, a_only, b_only = mcnemar_test(a, b)
    assert test == "McNemar exact" and a_only + b_only == 6 < EXACT_BELOW
    table = [[int((a & b).sum()), a_only], [b_only, int((~a & ~b).sum())]]
    assert p == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert a_only == int((a & ~b).sum()) and b_only == int((~a & b).sum())
    c = rng.random(300) < 0.6  # independent: many flips, chi-square with continuity correction
    p, test, a_only, b_only = mcnemar_test(a, c)
    assert test == "McNemar chi-square"
    table = [[int((a & c).sum()), a_only], [b_only, int((~a & ~c).sum())]]
    assert p == pytest.approx(mcnemar(table, exact=False, correction=True).pvalue)


def test_cochran_q_and_holm_against_statsmodels():
    y, probs = softmax_case(300, seed=11)
    contexts = {name: score_context(y, softmax_case(300, seed=s, skill=sk, labels=y)[1])
                for name, s, sk in (("a", 1, 1.0), ("b", 2, 1.2), ("c", 3, 1.6))}
    points = {n: classification_metrics(c.y_true, c.probs) for n, c in contexts.items()}
    comparison = compare_models(contexts, points, bootstrap(contexts, BootstrapSettings(resamples=500)))
    correct = np.stack([contexts[n].y_pred == y for n in "abc"], axis=1).astype(int)
    expected = cochrans_q(correct)
    assert comparison.cochran_q["statistic"] == pytest.approx(expected.statistic)
    assert comparison.cochran_q["p_value"] == pytest.approx(expected.pvalue)
    accuracy = [t for t in comparison.tests if t.metric == "accuracy"]
    assert len(accuracy) == 3
    reject, adjusted, _, _ = multipletests([t.p_value for t in accuracy], alpha=0.05, method="holm")
    assert [t.p_holm for t in accuracy] == pytest.approx(adjusted)
    assert [t.significant for t in accuracy] == list(reject)
    p = np.random.default_rng(1).random(12) ** 3
    assert holm_adjust(p) == pytest.approx(multipletests(p, method="holm")[1])
    # Every family: accuracy, the registry's paired metrics, and DeLong per class, 3 pairs each.
    mcnemar = {"McNemar exact", "McNemar chi-square"}
    assert {t.test for t in comparison.tests} - mcnemar == {"paired bootstrap", "DeLong"}
    assert len([t for t in comparison.tests if t.metric == "glioma_auc"]) == 3


def test_bootstrap_p_value():
    assert bootstrap_p_value(np.full(999, 0.1)) == pytest.approx(2 / 1000)
    assert bootstrap_p_value(np.linspace(-1, 1, 1001)) == pytest.approx(1.0)


def test_recommendation_says_in_plain_words_whether_two_models_differ():
    y, probs = softmax_case(400, seed=21, skill=1.5)
    twin = probs.copy()
    flip = np.flatnonzero(twin.argmax(axis=1) != y)[:3]
    twin[flip] = one_hot(y[flip], 0.9)  # three images more right: no real difference
    _, strong = softmax_case(400, seed=22, skill=4.0, labels=y)
    cases = {"model_1": probs, "model_2": twin, "model_3": strong}
    contexts = {n: score_context(y, p) for n, p in cases.items()}
    points = {n: classification_metrics(y, p) for n, p in cases.items()}
    comparison = compare_models(contexts, points, bootstrap(contexts, BootstrapSettings(resamples=1000)))
    advice = recommend({"model_1": points["model_1"], "model_2": points["model_2"]}, comparison=comparison)
    assert advice.summary[1].startswith("Across the 3 compared models, the accuracies on the test split differ "
                                        "(Cochran's Q = ")
    sentence = advice.summary[2]
    assert sentence.startswith("On the test split, model_2 and model_1 do not differ: accuracy +0.7 points, "
                               "95% CI [0.0, 1.7]")
    assert "McNemar p = 0.25 (3 vs 0 images flipped)" in sentence
    assert "macro F1" in sentence and "paired bootstrap p = " in sentence
    advice = recommend({"model_1": points["model_1"], "model_3": points["model_3"]}, comparison=comparison)
    assert advice.summary[2].startswith("On the test split, model_3 is better than model_1 (after Holm's correction "
                                        "over 3 pairs): accuracy +")


# ---------------------------------------------------------------- calibration

def test_temperature_scaling_recovers_an_overconfident_models_temperature():
    rng = np.random.default_rng(31)
    logits = rng.normal(0, 1.5, (4000, K))
    calibrated_truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # Labels drawn from softmax(logits): those probabilities are calibrated, softmax(3 logits) is not.
    y = (rng.random(4000)[:, None] > np.cumsum(calibrated_truth, axis=1)).sum(axis=1)
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    temperature = cal.fit_temperature(y[:2000], sharp[:2000])
    assert temperature == pytest.approx(3.0, rel=0.1)
    calibrated = cal.apply_temperature(sharp[2000:], temperature)
    assert (calibrated.argmax(axis=1) == sharp[2000:].argmax(axis=1)).all()
    before = cal.expected_calibration_error(y[2000:], sharp[2000:])
    after = cal.expected_calibration_error(y[2000:], calibrated)
    assert after < before / 2


# ---------------------------------------------------------------- seeds

def test_seed_grouping_and_seed_pair_shares():
    assert split_seed("model_1.seed2") == ("model_1", 2)
    assert split_seed("model_1.none.seed0") == ("model_1.none", 0)
    assert seed_groups(["model_1", "model_2", "model_1.seed1", "model_1.seed2"]) == {
        "model_1": ["model_1", "model_1.seed1", "model_1.seed2"], "model_2": ["model_2"]}
    assert beats_share([0.7, 0.8], [0.75]) == 0.5
    assert beats_share([0.7, 0.8], [0.75, 0.9]) == 0.25
    assert beats_share([1.0], [1.0]) == 0.5
    assert beats_share([0.2], [0.3], higher_is_better=False) == 1.0
    m = {name: classification_metrics(*softmax_case(200, seed=s, skill=sk))
         for name, s, sk in (("a", 1, 1.0), ("a.seed1", 2, 1.1), ("b", 3, 3.0), ("b.seed1", 4, 3.1))}
    summary = seed_summary(m, metrics(where="seeds", overall=True))
    rows = {r["group"]: r for r in summary["rows"]}
    assert rows["a"]["seeds"] == 2
    assert rows["a"]["macro_f1.mean"] == pytest.approx((m["a"]["macro"]["f1"] + m["a.seed1"]["macro"]["f1"]) / 2)
    assert {(p["a"], p["b"]): p["share"] for p in summary["pairs"]} == {("a", "b"): 0.0, ("b", "a"): 1.0}
    assert seed_summary({"a": m["a"], "b": m["b"]}, metrics(where="seeds", overall=True)) is None


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("data, match", [
    ({"bootstrap": {"resamples": 10}}, "at least 100"),
    ({"bootstrap": {"method": "bootstrap-t"}}, "valid: percentile, bca"),
    ({"bootstrap": {"confidence": 95}}, r"confidence must be in \[0.5, 1\)"),
    ({"cost_matrix": [[0, 1], [1, 0]]}, "expected 4 rows of 4 costs"),
    ({"cost_matrix": {"glioma": {"cat": 3}}}, "unknown class 'cat'"),
    ({"cost_matrix": {"glioma": {"no_tumor": -1}}}, "finite number >= 0"),
    ({"calibration_bins": 1}, "from 2 to 100"),
    ({"bins": 10}, r"unknown key\(s\) \['bins'\]; valid keys: bootstrap, cost_matrix"),
], ids=["few-resamples", "method", "confidence", "matrix-shape", "matrix-class", "negative-cost", "bins",
        "unknown-key"])
def test_bad_evaluation_settings_name_the_key_and_the_fix(data, match):
    with pytest.raises(ValueError, match=match):
        evaluation_settings(data)


# ---------------------------------------------------------------- the registry drives every table

def test_a_registered_metric_appears_in_every_table(tmp_path):
    """One `registered(...)` call: the metric is computed, bootstrapped and shown in the comparison table,
    the definitions, the bar chart, metrics.json and metrics.csv, HTML and Markdown alike."""
    from tumorbench.report import evaluate_files

    def share_no_tumor(ctx):
        return float((ctx.y_pred == NO_TUMOR).mean())

    def batch(agg):
        c = agg["confusion"]
        return c[..., :, NO_TUMOR].sum(axis=-1) / c.sum(axis=(-2, -1))

    spec = MetricSpec("no_tumor_calls", "no-tumour call rate (dummy)", "share of images called no_tumor.", False,
                      False, ("no_tumor_calls",), share_no_tumor, batch=batch, needs=("confusion",),
                      show=frozenset({"table", "chart"}))
    paths, calls = [], []
    for i, skill in enumerate((2.0, 1.0)):
        y, probs = softmax_case(120, seed=40 + i, skill=skill, labels=np.arange(120) % K)
        frame = predictions_frame([f"i{j}.png" for j in range(120)], [CLASS_NAMES[k] for k in y], probs)
        paths.append(write_predictions(tmp_path / f"m{i}.csv", frame))
        calls.append(float((probs.argmax(axis=1) == NO_TUMOR).mean()))
    with registered(spec):
        report = evaluate_files(paths, out_dir=tmp_path / "out")
    html = report.read_text()
    markdown = (tmp_path / "out" / "report.md").read_text()
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    value = document["models"]["m0"]["no_tumor_calls"]
    assert value == pytest.approx(calls[0]) and 0 < value < 1
    low, high = document["models"]["m0"]["intervals"]["no_tumor_calls"]
    assert low <= value <= high
    for text in (html, markdown):
        assert "no-tumour call rate (dummy)" in text  # comparison table header and definitions
        assert "share of images called no_tumor." in text
        assert f"{value:.3f}" in text
    assert f"{value:.3f} [{low:.3f}, {high:.3f}]" in markdown  # with its interval
    header = html[html.index('id="comparison-table"'):]
    assert "no-tumour call rate (dummy)" in header[:header.index("</thead>")]
    assert "no_tumor_calls" in pd.read_csv(tmp_path / "out" / "metrics.csv").columns
    assert '"name":"no-tumour call rate (dummy)"' in html  # bars of the chart (lower-is-better panel)
    # Gone again after the block: nothing leaks into other reports.
    assert all(m.key != "no_tumor_calls" for m in metrics())


def test_models_that_disagree_on_the_truth_are_refused():
    """Files read from disk are checked by check_same_images; `assess` checks frames handed in directly."""
    from tumorbench.evaluation.assess import assess
    from tumorbench.evaluation.model_result import evaluate_model

    y, probs = softmax_case(40, seed=50, labels=np.arange(40) % K)
    images = [f"i{j}.png" for j in range(40)]
    y2 = y.copy()
    y2[3] = (y2[3] + 1) % K
    results = [evaluate_model(name, predictions_frame(images, [CLASS_NAMES[k] for k in labels], probs), source=name)
               for name, labels in (("a", y), ("b", y2))]
    with pytest.raises(ValueError, match=r"predictions of a and b give different true labels to 1 image\(s\) "
                                         r"\(e.g. 'i3.png'\)"):
        assess(results)


def test_a_metric_with_its_own_per_image_feature():
    """A metric that needs a quantity no registered feature sums brings its Feature along."""
    from tumorbench.evaluation.declared import Feature

    wrong = Feature("wrong", lambda ctx: (ctx.y_pred != ctx.y_true).astype(float)[:, None], lambda ctx: ())
    spec = MetricSpec("error_rate", "error rate (dummy)", "share of images misclassified.", False, False,
                      ("error_rate",), lambda ctx: float((ctx.y_pred != ctx.y_true).mean()),
                      batch=lambda agg: agg["wrong"] / agg["confusion"].sum(axis=(-2, -1)),
                      needs=("wrong", "confusion"))
    y, probs = softmax_case(300, seed=60)
    with registered(spec, wrong):
        ctx = score_context(y, probs)
        m = classification_metrics(y, probs)
        ci = intervals({"m": ctx}, {"m": m}, BootstrapSettings(resamples=500))["m"]
    assert m["error_rate"] == pytest.approx(1 - m["accuracy"])
    assert ci["error_rate"][0] == pytest.approx(1 - ci["accuracy"][1])  # the same resamples, mirrored
    assert ci["error_rate"][1] == pytest.approx(1 - ci["accuracy"][0])
    with pytest.raises(ValueError, match=r"needs unregistered features \['wrong'\]"), registered(spec):
        pass
