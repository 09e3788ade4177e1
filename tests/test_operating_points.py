"""Operating points: thresholds chosen on validation (by hand and against scikit-learn's roc_curve),
applied to a different test frame, and shown in the report, metrics.json and the API."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from tumorbench.config import load_yaml, make_config
from tumorbench.evaluation.operating_points import (
    BINARY,
    choose_threshold,
    operating_points,
    operating_points_table,
    rates,
)
from tumorbench.evaluation.settings import BootstrapSettings, EvaluationSettings, evaluation_settings
from tumorbench.report import build_report, evaluate_files

from test_binary_view import FOUR, frame, hand_probs
from test_report import make_run_folder, write_synthetic_predictions

FAST = EvaluationSettings(bootstrap=BootstrapSettings(resamples=300))


# ---------------------------------------------------------------- choosing the threshold

# Validation by hand: positives score 0.9, 0.8, 0.6, 0.3; negatives 0.7, 0.5, 0.4, 0.2, 0.1.
VAL_POS = [0.9, 0.8, 0.6, 0.3]
VAL_NEG = [0.7, 0.5, 0.4, 0.2, 0.1]


def _val():
    return np.array([True] * 4 + [False] * 5), np.array(VAL_POS + VAL_NEG)


@pytest.mark.parametrize("fixed, target, threshold", [
    # Specificity >= 0.8 (at most 1 of 5 negatives at or above t): t = 0.6 leaves only 0.7 above,
    # and catches 0.9, 0.8, 0.6 (3/4); any lower t lets 0.5 in too.
    ("specificity", 0.8, 0.6),
    # Specificity >= 0.9: no negative may reach t; t must be above 0.7, so t = 0.8 (sensitivity 2/4).
    ("specificity", 0.9, 0.8),
    # Sensitivity >= 0.75: 3 of 4 positives, t = 0.6 (specificity 4/5 beats any lower t).
    ("sensitivity", 0.75, 0.6),
    # Sensitivity 1: t = 0.3, the lowest positive (specificity 2/5).
    ("sensitivity", 1.0, 0.3),
], ids=["spec80", "spec90", "sens75", "sens100"])
def test_threshold_by_hand(fixed, target, threshold):
    positive, score = _val()
    assert choose_threshold(positive, score, fixed=fixed, target=target) == threshold


def test_target_met_only_by_calling_everything_negative():
    positive = np.array([True, False])
    score = np.array([0.3, 0.9])  # the negative scores highest
    t = choose_threshold(positive, score, fixed="specificity", target=0.95)
    assert t == np.inf
    sens, spec = rates(positive, score, [t])
    assert (sens[0], spec[0]) == (0.0, 1.0)


def _roc_rule(positive, score, *, fixed, target):
    """The same choice read off scikit-learn's ROC points (every threshold kept)."""
    fpr, tpr, thresholds = roc_curve(positive, score, drop_intermediate=False)
    if fixed == "specificity":
        ok = fpr <= 1 - target + 1e-12
        best = tpr[ok].max()
        pick = np.flatnonzero(ok & (tpr == best))
        return thresholds[pick[np.argmin(fpr[pick])]]
    ok = tpr >= target - 1e-12
    best = (1 - fpr[ok]).max()
    pick = np.flatnonzero(ok & (1 - fpr == best))
    return thresholds[pick[np.argmax(tpr[pick])]]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fixed", ["specificity", "sensitivity"])
@pytest.mark.parametrize("target", [0.8, 0.9, 0.95])
def test_threshold_matches_scikit_learn_roc_curve(seed, fixed, target):
    rng = np.random.default_rng(seed)
    positive = rng.random(150) < 0.4
    # Rounded scores: ties, as real probabilities have them.
    score = np.round(np.clip(0.5 + 0.25 * (positive - 0.5) + rng.normal(0, 0.2, 150), 0, 1), 2)
    assert choose_threshold(positive, score, fixed=fixed, target=target) == \
        _roc_rule(positive, score, fixed=fixed, target=target)


# ---------------------------------------------------------------- chosen on validation, applied to test

def _test_frame():
    # Test by hand: P(tumour) of the tumours 0.95, 0.85, 0.65, 0.55, 0.25; of the no-tumour images 0.75,
    # 0.45, 0.15.
    labels = ["glioma", "meningioma", "pituitary", "glioma", "meningioma", "no_tumor", "no_tumor", "no_tumor"]
    return frame(labels, hand_probs([0.95, 0.85, 0.65, 0.55, 0.25, 0.75, 0.45, 0.15]))


def _val_frame():
    labels = ["glioma", "pituitary", "meningioma", "glioma"] + ["no_tumor"] * 5
    return frame(labels, hand_probs(VAL_POS + VAL_NEG))


def _point(found, view, fixed, target):
    return next(p for p in found["points"] if p["view"] == view and p["fixed"] == fixed and p["target"] == target)


def test_threshold_chosen_on_validation_is_applied_to_test():
    settings = EvaluationSettings(sensitivity_at_specificity=[0.8], specificity_at_sensitivity=[1.0],
                                  bootstrap=BootstrapSettings(resamples=300))
    found = operating_points(_test_frame(), _val_frame(), settings=settings)
    p = _point(found, BINARY, "specificity", 0.8)
    assert p["threshold"] == pytest.approx(0.6)  # from validation, as by hand above
    assert p["validation"] == {"sensitivity": 0.75, "specificity": 0.8}
    # On test, P(tumour) >= 0.6: tumours 0.95, 0.85, 0.65 (3 of 5); no tumour 0.75 (1 of 3 wrongly).
    assert p["sensitivity"] == pytest.approx(3 / 5)
    assert p["specificity"] == pytest.approx(2 / 3)
    assert p["fpr"] == pytest.approx(1 / 3)
    q = _point(found, BINARY, "sensitivity", 1.0)
    assert q["threshold"] == pytest.approx(0.3)
    # On test, >= 0.3 misses the tumour at 0.25: the validation target is not a promise on test.
    assert q["sensitivity"] == pytest.approx(4 / 5) and q["specificity"] == pytest.approx(1 / 3)
    for point in found["points"]:
        for rate in ("sensitivity", "specificity"):
            low, high = point["intervals"][rate]
            assert low <= point[rate] <= high
    assert found["chosen_on"] == "validation split (9 images)"
    assert found["applied_to"] == "test split (8 images)"


def test_the_test_frame_never_moves_the_threshold():
    test = _test_frame()
    other = test.copy()
    other[[c for c in other.columns if c.startswith("prob_")]] = hand_probs([0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                                                                             0.7, 0.8])
    a = operating_points(test, _val_frame(), settings=FAST)
    b = operating_points(other, _val_frame(), settings=FAST)
    assert [p["threshold"] for p in a["points"]] == [p["threshold"] for p in b["points"]]
    shifted = _val_frame()
    shifted[[c for c in shifted.columns if c.startswith("prob_")]] = hand_probs(
        [v / 2 for v in VAL_POS + VAL_NEG])
    c = operating_points(test, shifted, settings=FAST)
    assert _point(c, BINARY, "specificity", 0.9)["threshold"] == pytest.approx(
        _point(a, BINARY, "specificity", 0.9)["threshold"] / 2)


def test_without_validation_there_are_no_operating_points():
    found = operating_points(_test_frame(), None, settings=FAST)
    assert found["points"] == []
    assert "No validation predictions" in found["reason"] and "on test" in found["reason"]


def test_each_class_one_vs_rest():
    rng = np.random.default_rng(0)

    def random_frame(n):
        labels = rng.choice(FOUR, n)
        logits = rng.normal(0, 1, (n, 4)) + 2 * (labels[:, None] == np.array(FOUR)[None, :])
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return frame(labels, probs)

    test, val = random_frame(120), random_frame(80)
    found = operating_points(test, val, settings=FAST)
    assert {p["view"] for p in found["points"]} == {BINARY, *FOUR}
    assert len(found["points"]) == 5 * 4  # five views, four targets
    p = _point(found, "meningioma", "sensitivity", 0.9)
    positive = val["label"].to_numpy() == "meningioma"
    assert p["threshold"] == choose_threshold(positive, val["prob_meningioma"].to_numpy(), fixed="sensitivity",
                                              target=0.9)
    truth = test["label"].to_numpy() == "meningioma"
    called = test["prob_meningioma"].to_numpy() >= p["threshold"]
    assert p["sensitivity"] == pytest.approx((truth & called).sum() / truth.sum())
    assert p["specificity"] == pytest.approx((~truth & ~called).sum() / (~truth).sum())


def test_a_four_class_model_on_yes_no_labels_has_binary_points_only():
    def yes_no(f):
        f = f.copy()
        f["label"] = ["tumor" if label != "no_tumor" else "no_tumor" for label in f["label"]]
        return f

    found = operating_points(yes_no(_test_frame()), yes_no(_val_frame()), settings=FAST)
    views = {p["view"] for p in found["points"]}
    assert views == {BINARY, "no_tumor"}  # no_tumor vs rest is P(no_tumor) against the tumours
    assert any(n.startswith("glioma vs rest: no labelled image is glioma") for n in found["notes"])
    p = _point(found, BINARY, "specificity", 0.9)
    assert p["threshold"] == pytest.approx(0.8) and p["sensitivity"] == pytest.approx(2 / 5)


def test_a_small_validation_split_is_said():
    found = operating_points(_test_frame(), _val_frame(), settings=FAST)
    # 5 negatives: a 90 % (or 95 %) specificity target allows no false positive there.
    assert any("tumour vs no tumour: the validation split has 5 negatives" in n for n in found["notes"])


def test_targets_are_config_keys(tmp_path):
    settings = evaluation_settings({"sensitivity_at_specificity": [0.8], "specificity_at_sensitivity": 0.99})
    assert settings.sensitivity_at_specificity == [0.8] and settings.specificity_at_sensitivity == [0.99]
    assert EvaluationSettings().sensitivity_at_specificity == [0.90, 0.95]
    assert EvaluationSettings().specificity_at_sensitivity == [0.90, 0.95]
    with pytest.raises(ValueError, match=r"evaluation.sensitivity_at_specificity: expected a list of targets"):
        evaluation_settings({"sensitivity_at_specificity": [0.9, 1.5]})
    path = tmp_path / "config.yaml"
    path.write_text("models: [hog_svm]\nevaluation:\n  specificity_at_sensitivity: [0.85]\n")
    config = make_config((str(path), load_yaml(path)), sets=["evaluation.sensitivity_at_specificity=[0.8]"])
    assert config.evaluation.specificity_at_sensitivity == [0.85]
    assert config.evaluation.sensitivity_at_specificity == [0.8]


def test_operating_points_table():
    found = operating_points(_test_frame(), _val_frame(), settings=FAST)
    table = operating_points_table({"m": {"operating_points": found}, "x": {"operating_points": {"points": []}}})
    assert len(table) == len(found["points"]) and set(table["model"]) == {"m"}
    row = table[(table["view"] == BINARY) & (table["fixed"] == "specificity") & (table["target"] == 0.9)].iloc[0]
    assert row["threshold"] == pytest.approx(0.8) and row["sensitivity_low"] <= row["sensitivity"]


# ---------------------------------------------------------------- end to end: the report of a small run

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = make_run_folder(tmp_path_factory.mktemp("op-report"))
    (run / "config.yaml").write_text((run / "config.yaml").read_text()
                                     + "evaluation:\n  bootstrap: {resamples: 300}\n")
    html = build_report(run)
    return run, html.read_text(), (run / "report.md").read_text(), json.loads((run / "metrics.json").read_text())


def test_report_has_the_binary_section(report):
    run, html, md, document = report
    binary = document["models"]["resnet18"]["binary"]
    frame_ = pd.read_csv(run / "models" / "resnet18" / "predictions_test.csv", keep_default_na=False)
    truth = frame_["label"] != "no_tumor"
    called = 1 - frame_["prob_no_tumor"] >= 0.5
    assert binary["sensitivity"] == pytest.approx((truth & called).sum() / truth.sum())
    assert '<h2 id="binary">Tumour vs no tumour</h2>' in html and 'id="binary-table"' in html
    assert "## Tumour vs no tumour" in md
    assert f"{binary['sensitivity']:.3f} [{binary['intervals']['sensitivity'][0]:.3f}" in md


def test_report_has_the_operating_points(report):
    run, html, md, document = report
    found = document["models"]["baseline_cnn"]["operating_points"]
    assert found["chosen_on"].startswith("validation split") and found["points"]
    p = _point(found, BINARY, "specificity", 0.9)
    # Applied to the run's test predictions: the count by hand.
    test = pd.read_csv(run / "models" / "baseline_cnn" / "predictions_test.csv", keep_default_na=False)
    truth = (test["label"] != "no_tumor").to_numpy()
    score = test[["prob_glioma", "prob_meningioma", "prob_pituitary"]].sum(axis=1).to_numpy()
    assert p["sensitivity"] == pytest.approx((truth & (score >= p["threshold"])).sum() / truth.sum())
    assert 'id="operating-points-table"' in html and "## Operating points" in md
    assert "sensitivity at 90 % specificity" in md
    # The model handed in without validation predictions has none, and the report says why.
    assert document["models"]["external"]["operating_points"]["points"] == []
    assert "external: No validation predictions" in md


def test_roc_figures_mark_the_operating_points(report):
    from tumorbench.api.results import RunResult

    run, html, _, document = report
    result = RunResult(run)
    figure = result.figures["baseline_cnn/roc"]
    marks = [t for t in figure.data if t.mode == "markers"]
    assert len(marks) == len(document["models"]["baseline_cnn"]["operating_points"]["points"])
    assert any(t.name.startswith("tumour vs no tumour (AUC") for t in figure.data)
    assert not [t for t in result.figures["external/roc"].data if t.mode == "markers"]
    assert (run / "figures" / "baseline_cnn_roc.png").stat().st_size > 0
    # The API's tables are the report's numbers.
    assert result.binary.at["resnet18", "auc"] == pytest.approx(document["models"]["resnet18"]["binary"]["auc"])
    assert len(result.operating_points) == sum(len(m["operating_points"]["points"])
                                               for m in document["models"].values())


def test_static_roc_figure_draws_a_marker_per_point(report):
    from tumorbench.report import figures_static as fs

    _, _, _, document = report
    entry = document["models"]["resnet18"]
    roc = {"per_class": {}, "micro": {"fpr": [0, 1], "tpr": [0, 1]}, "macro": None}
    metrics = {"micro_auc": 0.5}
    ax = fs.draw_operating_points(fs.plot_roc({**roc, "per_class": {c: None for c in FOUR}}, metrics),
                                  binary_roc={"fpr": [0, 1], "tpr": [0, 1]}, binary=entry["binary"],
                                  operating_points=entry["operating_points"])
    points = [c for c in ax.collections if len(c.get_offsets())]
    assert len(points) == len(entry["operating_points"]["points"])
    assert any(t.get_text().startswith("tumour vs no tumour (AUC") for t in ax.get_legend().get_texts())


def test_predictions_evaluated_alone_have_no_operating_points(tmp_path):
    path = write_synthetic_predictions(tmp_path / "model.csv", n=60)
    evaluate_files([path], out_dir=tmp_path / "out", settings=FAST)
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert document["models"]["model"]["operating_points"]["points"] == []
    assert document["models"]["model"]["binary"]["defined"]
    assert "No validation predictions" in (tmp_path / "out" / "report.md").read_text()
