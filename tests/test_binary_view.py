"""The binary view (tumour vs no tumour): hand-checked counts, scikit-learn as the reference, a four-class
model on yes/no labels, and the reason when the view is undefined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from tumorbench.evaluation.binary import (
    binary_arrays,
    binary_roc,
    binary_table,
    binary_view,
    frame_classes,
)
from tumorbench.evaluation.bootstrap import resample_counts
from tumorbench.evaluation.ratios import ratio_intervals
from tumorbench.evaluation.settings import BootstrapSettings, EvaluationSettings

FOUR = ("glioma", "meningioma", "no_tumor", "pituitary")


def frame(labels, probs, classes=FOUR) -> pd.DataFrame:
    probs = np.asarray(probs, dtype=float)
    data = {"image": [f"img{i}.png" for i in range(len(labels))], "label": list(labels)}
    data.update({f"prob_{c}": probs[:, k] for k, c in enumerate(classes)})
    return pd.DataFrame(data)


# Ten images by hand. P(tumour) = 1 - P(no_tumor) per row (each row sums to 1):
#   label        P(tumour)  called (>= 0.5)
#   glioma       0.9        tumour    TP
#   glioma       0.6        tumour    TP
#   meningioma   0.4        no        FN
#   pituitary    0.8        tumour    TP
#   pituitary    0.3        no        FN
#   meningioma   0.7        tumour    TP
#   no_tumor     0.2        no        TN
#   no_tumor     0.55       tumour    FP
#   no_tumor     0.1        no        TN
#   no_tumor     0.35       no        TN
# -> TP 4, FN 2, TN 3, FP 1: sensitivity 4/6, specificity 3/4, accuracy 7/10, PPV 4/5, NPV 3/5.
# AUC: of the 6 x 4 (tumour, no tumour) pairs, the tumour image scores higher in all but 0.4 < 0.55,
# 0.3 < 0.55, 0.3 < 0.35: 21/24.
LABELS = ["glioma", "glioma", "meningioma", "pituitary", "pituitary", "meningioma",
          "no_tumor", "no_tumor", "no_tumor", "no_tumor"]
P_TUMOUR = [0.9, 0.6, 0.4, 0.8, 0.3, 0.7, 0.2, 0.55, 0.1, 0.35]


def hand_probs(p_tumour=P_TUMOUR):
    """Rows of four probabilities with P(no_tumor) = 1 - p, the tumour share split unevenly."""
    p = np.asarray(p_tumour)
    return np.stack([0.5 * p, 0.3 * p, 1 - p, 0.2 * p], axis=1)


@pytest.fixture
def hand():
    return frame(LABELS, hand_probs())


def test_binary_view_matches_the_hand_count(hand):
    v = binary_view(hand)
    assert v["defined"] and v["threshold"] == 0.5
    assert (v["tp"], v["fn"], v["tn"], v["fp"]) == (4, 2, 3, 1)
    assert (v["n"], v["n_tumour"], v["n_no_tumour"]) == (10, 6, 4)
    assert v["sensitivity"] == pytest.approx(4 / 6)
    assert v["specificity"] == pytest.approx(3 / 4)
    assert v["accuracy"] == pytest.approx(7 / 10)
    assert v["ppv"] == pytest.approx(4 / 5)
    assert v["npv"] == pytest.approx(3 / 5)
    assert v["auc"] == pytest.approx(21 / 24)


def test_binary_view_matches_scikit_learn(hand):
    v = binary_view(hand)
    truth = np.array([label != "no_tumor" for label in LABELS])
    called = np.asarray(P_TUMOUR) >= 0.5
    assert v["sensitivity"] == pytest.approx(recall_score(truth, called))
    assert v["specificity"] == pytest.approx(recall_score(truth, called, pos_label=False))
    assert v["ppv"] == pytest.approx(precision_score(truth, called))
    assert v["npv"] == pytest.approx(precision_score(truth, called, pos_label=False))
    assert v["accuracy"] == pytest.approx(accuracy_score(truth, called))
    assert v["auc"] == pytest.approx(roc_auc_score(truth, P_TUMOUR))


def test_p_tumour_is_the_sum_of_the_tumour_probabilities(hand):
    arrays, reason = binary_arrays(hand)
    assert reason is None
    assert arrays.tumour_classes == ("glioma", "meningioma", "pituitary")
    np.testing.assert_allclose(arrays.score, P_TUMOUR)


def test_a_four_class_model_is_scored_on_yes_no_labels(hand):
    # A yes/no dataset mapped onto tumor / no_tumor, scored with the same four-class model.
    binary_labels = ["tumor" if label != "no_tumor" else "no_tumor" for label in LABELS]
    yes_no = frame(binary_labels, hand_probs())
    v, four = binary_view(yes_no), binary_view(hand)
    assert v["defined"]
    for key in ("tp", "fn", "tn", "fp", "sensitivity", "specificity", "auc", "accuracy", "ppv", "npv"):
        assert v[key] == pytest.approx(four[key]), key
    # The two label sets are different strata, but the rates' intervals are those of the same images.
    assert v["intervals"]["auc"] == pytest.approx(four["intervals"]["auc"])


def test_the_threshold_is_a_setting(hand):
    v = binary_view(hand, settings=EvaluationSettings(binary_threshold=0.65))
    # Called tumour: 0.9, 0.8, 0.7 (TP) and nothing else.
    assert (v["tp"], v["fn"], v["tn"], v["fp"]) == (3, 3, 4, 0)
    assert v["auc"] == pytest.approx(21 / 24)  # the ranking does not depend on the threshold


def test_unlabelled_rows_are_left_out_and_said(hand):
    with_blank = pd.concat([hand, frame([""], hand_probs([0.9]))], ignore_index=True)
    v = binary_view(with_blank)
    assert v["n"] == 10 and v["tp"] == 4
    assert any("1 images without a true label" in n for n in v["notes"])


def test_ppv_is_undefined_when_nothing_is_called_tumour(hand):
    v = binary_view(hand, settings=EvaluationSettings(binary_threshold=0.95))
    assert v["tp"] + v["fp"] == 0
    assert v["ppv"] is None and v["intervals"]["ppv"] is None
    assert v["sensitivity"] == 0.0
    assert any("PPV is undefined" in n for n in v["notes"])


@pytest.mark.parametrize("labels, classes, reason", [
    (["glioma", "meningioma"], ("glioma", "meningioma", "pituitary"), "has no no_tumor class"),
    (["glioma", "no_tumor"], ("no_tumor", "cat"), "'cat' is neither a tumour class"),
    (["no_tumor", "no_tumor"], ("no_tumor", "other"), "'other' is neither"),
    (["glioma", "pituitary"], FOUR, "No image is labelled no_tumor"),
    (["no_tumor", "no_tumor"], FOUR, "No image is labelled with a tumour class"),
    (["yes", "no"], FOUR, "Labels 'yes' (1 image), 'no' (1 image) are neither"),
    (["", ""], FOUR, "No image has a true label"),
], ids=["figshare-model-without-no-tumour", "class-neither", "no-tumour-class-only", "labels-all-tumour",
        "labels-no-tumour-only", "unmapped-yes-no-labels", "no-labels"])
def test_undefined_views_say_why(labels, classes, reason):
    probs = np.full((len(labels), len(classes)), 1 / len(classes))
    v = binary_view(frame(labels, probs, classes))
    assert v == {"defined": False, "reason": v["reason"]}
    assert reason in v["reason"]
    assert v["reason"].endswith(".") and "\n" not in v["reason"]
    assert binary_roc(frame(labels, probs, classes)) is None


def test_intervals_surround_the_values_and_repeat_with_the_seed():
    rng = np.random.default_rng(3)
    labels = rng.choice(FOUR, 200, p=[.3, .3, .2, .2])
    p_tumour = np.clip(np.where(labels == "no_tumor", 0.35, 0.65) + rng.normal(0, .2, 200), 0, 1)
    f = frame(labels, hand_probs(p_tumour))
    settings = EvaluationSettings(bootstrap=BootstrapSettings(resamples=500, seed=4))
    v = binary_view(f, settings=settings)
    for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv", "auc"):
        low, high = v["intervals"][key]
        assert low <= v[key] <= high, key
        assert high - low > 0.01, key  # 200 noisy images: a real interval, not a point
    assert binary_view(f, settings=settings)["intervals"] == v["intervals"]


def test_auc_interval_is_delongs():
    rng = np.random.default_rng(5)
    labels = np.array(["glioma"] * 30 + ["no_tumor"] * 20)
    p_tumour = np.clip(np.r_[rng.normal(.6, .2, 30), rng.normal(.4, .2, 20)], 0, 1)
    v = binary_view(frame(labels, hand_probs(p_tumour)))
    pos, neg = p_tumour[:30], p_tumour[30:]
    # DeLong et al. (1988) from its definition: placements of each positive among the negatives and back.
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = np.sqrt(v10.var(ddof=1) / 30 + v01.var(ddof=1) / 20)
    auc = psi.mean()
    z = norm.ppf(0.975)
    assert v["auc"] == pytest.approx(auc)
    assert v["intervals"]["auc"] == pytest.approx([auc - z * se, min(1.0, auc + z * se)])


def test_rate_intervals_are_percentiles_of_the_projects_resamples():
    # The same resamples as every other metric of the report (resample_counts, seeded, within each true
    # class); each resample's ratio computed here image by image.
    rng = np.random.default_rng(1)
    strata = rng.integers(0, 3, 80)
    hit = rng.random(80) < 0.7
    features = np.stack([hit, ~hit], axis=1).astype(float)
    settings = BootstrapSettings(resamples=300, seed=7)
    value, (low, high) = ratio_intervals(features, {"rate": ([0], [0, 1])}, strata, settings)["rate"]
    weights = np.concatenate(list(resample_counts(strata, resamples=300, seed=7)))
    rates = [(w * hit).sum() / w.sum() for w in weights]
    assert value == pytest.approx(hit.mean())
    assert [low, high] == pytest.approx(list(np.quantile(rates, [0.025, 0.975])))


def test_bca_intervals_are_offered_too(hand):
    v = binary_view(hand, settings=EvaluationSettings(bootstrap=BootstrapSettings(method="bca", resamples=400)))
    low, high = v["intervals"]["accuracy"]
    assert 0 <= low <= v["accuracy"] <= high <= 1


def test_frame_classes_follow_the_columns():
    assert frame_classes(frame(["no_tumor"], [[.2, .8]], ("tumor", "no_tumor"))) == ("tumor", "no_tumor")


def test_binary_table_one_row_per_model(hand):
    models = {"a": {"binary": binary_view(hand)},
              "b": {"binary": binary_view(frame(["glioma"], [[1, 0, 0]], ("glioma", "meningioma", "pituitary")))}}
    table = binary_table(models)
    assert list(table.index) == ["a", "b"]
    assert table.at["a", "sensitivity"] == pytest.approx(4 / 6)
    assert table.at["a", "auc_low"] <= table.at["a", "auc"] <= table.at["a", "auc_high"]
    assert not table.at["b", "defined"] and "no_tumor" in table.at["b", "reason"]
    assert pd.isna(table.at["b", "sensitivity"])


def test_binary_settings_are_checked():
    with pytest.raises(ValueError, match="evaluation.binary_threshold must be in"):
        EvaluationSettings(binary_threshold=1.5)


@pytest.mark.parametrize("template", ["_binary.md.j2", "_binary.html.j2"])
def test_report_sections_say_why_the_view_is_undefined(hand, template):
    from types import SimpleNamespace

    from tumorbench.rendering import ENVIRONMENT
    from tumorbench.report._binary_views import binary_views

    three = frame(["glioma", "pituitary"], [[.8, .1, .1], [.1, .1, .8]], ("glioma", "meningioma", "pituitary"))
    results = [SimpleNamespace(name="four", binary=binary_view(hand), operating_points=None),
               SimpleNamespace(name="three <b>", binary=binary_view(three),
                               operating_points={"points": [], "reason": "No validation predictions: left out."})]
    views = binary_views(results, {"four": "four", "three <b>": "three_b"})
    text = ENVIRONMENT.get_template(f"report/{template}").render(**views, confidence=0.95)
    assert "has no no_tumor class" in text and "No validation predictions: left out." in text
    assert f"{4 / 6:.3f}" in text  # the defined model's sensitivity
    assert "three <b>" not in text  # a name from the data is escaped in both formats
