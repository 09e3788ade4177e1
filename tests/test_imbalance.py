"""Each balancing strategy does what it says, on a deliberately imbalanced dataset, and touches the
training split only. Plus the study grid: restartable, summarised and reported."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tumorbench.data.balance import STRATEGIES, balanced_class_weights, plan_epoch
from tumorbench.training.losses import FocalLoss, make_loss

LABELS = np.array([0] * 20 + [1] * 10 + [2] * 5 + [3] * 20)


def _counts(plan):
    return np.bincount(LABELS[plan.indices], minlength=4).tolist()


def test_none_keeps_the_data_as_it_is():
    plan = plan_epoch(LABELS, "none", np.random.default_rng(0), n_classes=4)
    assert sorted(plan.indices.tolist()) == list(range(len(LABELS)))


def test_oversample_reaches_the_majority_and_keeps_every_image():
    plan = plan_epoch(LABELS, "oversample", np.random.default_rng(0), n_classes=4)
    assert _counts(plan) == [20, 20, 20, 20]
    assert set(plan.indices.tolist()) == set(range(len(LABELS)))
    assert not plan.augment.any()


def test_undersample_draws_anew_each_epoch_so_no_image_is_lost_for_good():
    rng = np.random.default_rng(0)
    plans = [plan_epoch(LABELS, "undersample", rng, n_classes=4) for _ in range(30)]
    assert all(_counts(p) == [5, 5, 5, 5] for p in plans)
    assert len({tuple(sorted(p.indices.tolist())) for p in plans[:3]}) == 3
    assert set(np.concatenate([p.indices for p in plans]).tolist()) == set(range(len(LABELS)))


def test_weighted_sampler_draws_classes_equally_often():
    rng = np.random.default_rng(0)
    plans = [plan_epoch(LABELS, "weighted_sampler", rng, n_classes=4) for _ in range(200)]
    assert all(len(p.indices) == len(LABELS) for p in plans)
    share = np.bincount(LABELS[np.concatenate([p.indices for p in plans])], minlength=4) / (200 * len(LABELS))
    assert np.allclose(share, 0.25, atol=0.02), share


@pytest.mark.parametrize("strategy", ["class_weight", "focal"])
def test_loss_strategies_leave_the_data_alone(strategy):
    plan = plan_epoch(LABELS, strategy, np.random.default_rng(0), n_classes=4)
    assert _counts(plan) == [20, 10, 5, 20]


def test_class_weight_uses_the_balanced_formula():
    loss, weights = make_loss("class_weight", LABELS, 4)
    expected = len(LABELS) / (4 * np.array([20, 10, 5, 20]))
    assert np.allclose(weights, expected) and np.allclose(loss.weight.numpy(), expected)
    assert np.allclose(balanced_class_weights(LABELS, 4), expected)


def test_focal_loss_is_cross_entropy_at_gamma_0_and_discounts_easy_samples():
    torch.manual_seed(0)
    logits, target = torch.randn(16, 4), torch.randint(0, 4, (16,))
    assert torch.allclose(FocalLoss(gamma=0)(logits, target), F.cross_entropy(logits, target), atol=1e-6)
    p = F.softmax(logits, 1).gather(1, target[:, None]).squeeze(1)
    expected = (-(1 - p) ** 2 * p.log()).mean()
    assert torch.allclose(FocalLoss(gamma=2)(logits, target), expected, atol=1e-6)
    weighted, w = make_loss("focal", LABELS, 4, focal_weighted=True)
    plain, none_w = make_loss("focal", LABELS, 4)
    assert none_w is None and np.allclose(w, balanced_class_weights(LABELS, 4))
    assert not torch.allclose(weighted(logits, target), plain(logits, target))


def test_every_strategy_is_documented():
    assert set(STRATEGIES) == {"none", "oversample", "undersample", "class_weight", "augment_balance",
                               "weighted_sampler", "focal"}


@pytest.mark.slow
@pytest.mark.parametrize("strategy, expected", [
    ("oversample", [13, 13, 13, 13]), ("undersample", [6, 6, 6, 6]), ("augment_balance", [13, 13, 13, 13]),
    ("class_weight", [13, 13, 6, 13]),
])
def test_training_sees_balanced_epochs_from_the_training_split_only(tiny_dataset, tmp_path, monkeypatch, strategy,
                                                                   expected):
    from tumorbench.config import make_config
    from tumorbench.run import run_benchmark
    from tumorbench.training import fit as fit_module

    seen = []
    real_plan = fit_module.plan_epoch
    monkeypatch.setattr(fit_module, "plan_epoch",
                        lambda labels, *a, **k: seen.append(np.asarray(labels)) or real_plan(labels, *a, **k))
    augmented_paths = []
    real_batches = fit_module.plan_batches

    def spy(data, plan, **kw):
        augmented_paths.extend(data.paths[i] for i in plan.indices[plan.augment])
        return real_batches(data, plan, **kw)

    monkeypatch.setattr(fit_module, "plan_batches", spy)
    config = make_config({"image_size": 24, "train": {"epochs": 2, "batch_size": 16},
                          "models": [{"name": "m", "architecture": "model_1", "balance": strategy}]})
    out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    train = pd.read_csv(out / "splits" / "train.csv")
    val = pd.read_csv(out / "splits" / "val.csv")
    history = json.loads((out / "models" / "m" / "history.json").read_text())
    assert all(c == expected for c in history["class_counts"])
    assert all(len(labels) == len(train) for labels in seen)  # the plan only ever sees training labels
    assert set(augmented_paths) <= set(train["image"])  # copies never come from validation or test
    assert (len(augmented_paths) > 0) == (strategy == "augment_balance")
    pred_val = pd.read_csv(out / "models" / "m" / "predictions_val.csv", keep_default_na=False)
    pred_test = pd.read_csv(out / "models" / "m" / "predictions_test.csv", keep_default_na=False)
    assert pred_val["label"].value_counts().to_dict() == val["label"].value_counts().to_dict()
    assert len(pred_test) == 20
    assert pred_test["label"].value_counts().to_dict() == {c: 5 for c in pred_test["label"].unique()}
    info = json.loads((out / "models" / "m" / "info.json").read_text())
    assert list(info["train_class_counts"].values()) == [13, 13, 6, 13]


@pytest.mark.slow
def test_study_grid_is_restartable_summarised_and_reported(tiny_dataset, tmp_path):
    from tumorbench.config import make_config
    from tumorbench.sections import write_full_report
    from tumorbench.study import imbalance_config, run_imbalance_study

    base = make_config({"image_size": 24, "train": {"epochs": 1, "batch_size": 16}, "models": ["model_1"]})
    config = imbalance_config(base, models=["model_1"], strategies=["none", "undersample"], seeds=2)
    assert [m.name for m in config.models] == ["model_1.none.seed0", "model_1.none.seed1",
                                               "model_1.undersample.seed0", "model_1.undersample.seed1"]
    out = run_imbalance_study(config, data_root=tiny_dataset, out=tmp_path / "study")
    stamp = (out / "models" / "model_1.none.seed0" / "checkpoint.pt").stat().st_mtime_ns
    run_imbalance_study(config, data_root=tiny_dataset, out=out)  # restart: nothing is retrained
    assert (out / "models" / "model_1.none.seed0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    summary = json.loads((out / "study_imbalance.json").read_text())
    rows = {r["strategy"]: r for r in summary["rows"]}
    assert set(rows) == {"none", "undersample"} and rows["none"]["seeds"] == 2
    cells = pd.DataFrame(summary["cells"])
    none = cells[cells.strategy == "none"]["glioma.recall"]
    assert rows["none"]["glioma.recall.mean"] == pytest.approx(none.mean())
    counts = {c["strategy"]: c for c in summary["counts"]}
    assert counts["undersample"]["after"] == {"glioma": 6, "meningioma": 6, "no_tumor": 6, "pituitary": 6}
    assert counts["none"]["before"] == counts["none"]["after"]
    html = write_full_report(out).read_text()
    assert "Class-imbalance study" in html and "Per-class recall by strategy" in html
    assert "undersample vs none" in html
