"""The from-scratch CNN recipe of the best-cpu preset: small_resnet and its mirror-image test-time
augmentation, the training knobs (optimizer, schedule, label smoothing, strong augmentation) and the
validation-weighted ensemble."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.config import make_config, resolve_model
from tumorbench.data.augment import StrongAugment
from tumorbench.models import create_model, get_model_entry
from tumorbench.predictions.ensemble import choose_weights, ensemble_predictions, simplex_grid
from tumorbench.predictions.io import predictions_frame
from tumorbench.training.fit import epoch_lrs, make_optimizer
from tumorbench.training.losses import make_loss


def test_small_resnet_averages_the_mirror_image_only_without_gradients():
    torch.manual_seed(0)
    model = create_model("small_resnet", get_model_entry("small_resnet").preprocess.with_size(64))
    for m in model.modules():  # a fresh net starts every block as the identity: give the blocks a say
        if isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
    model.flip_tta.fill_(True)
    model.eval()
    x = torch.rand(4, 1, 64, 64)
    with torch.no_grad():
        tta = model(x).softmax(1)
        plain, mirrored = model.logits(x).softmax(1), model.logits(x.flip(-1)).softmax(1)
    torch.testing.assert_close(tta, (plain + mirrored) / 2)
    assert not torch.allclose(plain, mirrored)  # else the test would prove nothing
    torch.testing.assert_close(model(x).softmax(1).detach(), plain)  # gradients on: one plain pass
    model.flip_tta.fill_(False)
    with torch.no_grad():
        torch.testing.assert_close(model(x).softmax(1), plain)
    # The switch is in the state dict, so a checkpoint remembers it.
    assert "flip_tta" in model.state_dict()


def test_cosine_schedule_warms_up_then_decays():
    lrs = epoch_lrs(1e-3, 10, schedule="cosine", warmup_epochs=2)
    assert len(lrs) == 10
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:])) and 0 < lrs[-1] < 1e-4
    assert epoch_lrs(1e-3, 4, schedule="constant", warmup_epochs=2) == [1e-3] * 4
    assert epoch_lrs(1e-3, 1, schedule="cosine", warmup_epochs=5) == [1e-3]  # one epoch: no room to warm up


def test_optimizer_and_label_smoothing_follow_the_config():
    config = make_config({"models": ["small_resnet", {"name": "model_1", "optimizer": "adam"}],
                          "train": {"optimizer": "adamw", "weight_decay": 0.05, "label_smoothing": 0.1}})
    rm, other = (resolve_model(m, config) for m in config.models)
    opt = make_optimizer([nn.Parameter(torch.zeros(2))], rm, lr=0.1)
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.05
    assert type(make_optimizer([nn.Parameter(torch.zeros(2))], other, lr=0.1)) is torch.optim.Adam
    loss, _ = make_loss("none", np.array([0, 1, 2, 3]), 4, label_smoothing=rm.label_smoothing)
    sure = torch.tensor([[20.0, 0, 0, 0]])
    # A smoothed target is never met by a one-hot prediction: the loss stays well above zero.
    assert float(loss(sure, torch.tensor([0]))) > 0.1
    assert float(make_loss("none", np.array([0, 1, 2, 3]), 4)[0](sure, torch.tensor([0]))) < 1e-6


@pytest.mark.parametrize("bad, match", [
    ({"train": {"optimizer": "sgd"}}, "valid: adam, adamw"),
    ({"train": {"schedule": "step"}}, "valid: constant, cosine"),
    ({"train": {"augment": "heavy"}}, "valid: balance, strong"),
    ({"train": {"label_smoothing": 1.0}}, "label_smoothing must be below 1"),
    ({"train": {"warmup_epochs": -1}}, "warmup_epochs must be at least 0"),
    ({"ensemble": ["hog_svm"]}, "two or more distinct models"),
    ({"ensemble": ["hog_svm", "model_9"]}, r"members \['model_9'\] are not models of this run"),
    ({"ensemble": "hog_svm"}, "ensemble must be a list of model names"),
], ids=["optimizer", "schedule", "augment", "smoothing", "warmup", "one-member", "unknown-member", "not-a-list"])
def test_bad_recipe_settings_fail_early_with_the_valid_options(bad, match):
    with pytest.raises(ValueError, match=match):
        make_config({"models": ["hog_svm", "small_resnet"], **bad})


def test_strong_augment_is_random_per_image_reproducible_and_can_flip():
    x = torch.rand(6, 1, 32, 32)
    a = StrongAugment()(x, torch.Generator().manual_seed(1))
    b = StrongAugment()(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape and torch.isfinite(a).all()
    assert not torch.allclose(a, x, atol=1e-3)
    same = StrongAugment()(x[:1].expand(6, -1, -1, -1).contiguous(), torch.Generator().manual_seed(2))
    assert not torch.allclose(same[0], same[1], atol=1e-3)  # each image its own draw
    flip_only = StrongAugment(rotation=0, shift=0, zoom=0, flip=1.0, brightness=0, contrast=0, gamma=0)
    torch.testing.assert_close(flip_only(x), x.flip(-1), atol=1e-5, rtol=0)


def test_simplex_grid_covers_every_weighting():
    grid = simplex_grid(3, 0.25)
    assert len(grid) == 15  # C(4 + 2, 2)
    np.testing.assert_allclose(grid.sum(1), 1)
    assert (grid >= 0).all() and [1, 0, 0] in grid.tolist() and [0, 0, 1] in grid.tolist()


def _frame(images, labels, probs):
    return predictions_frame(images, labels, np.asarray(probs, dtype=float))


def test_ensemble_weighs_on_validation_and_aligns_images():
    rng = np.random.default_rng(0)
    n = 40
    y = np.arange(n) % 4
    labels = [CLASS_NAMES[k] for k in y]
    images = [f"img{i}.jpg" for i in range(n)]
    good = np.full((n, 4), 0.1)
    good[np.arange(n), y] = 0.7  # right and fairly sure
    noise = rng.dirichlet(np.ones(4), n)  # a member that knows nothing
    val = {"good": _frame(images, labels, good), "noise": _frame(images, labels, noise)}
    order = rng.permutation(n)  # test rows of one member in another order: aligned by image name
    test = {"good": _frame(images, labels, good),
            "noise": _frame([images[i] for i in order], [labels[i] for i in order], noise[order])}
    val_out, test_out, info = ensemble_predictions(val, test, step=0.1)
    assert info["members"] == ["good", "noise"]
    w = info["member_weights"]
    assert w["good"] > w["noise"] and math.isclose(w["good"] + w["noise"], 1)
    expected = w["good"] * good + w["noise"] * noise
    np.testing.assert_allclose(test_out[list(PROB_COLUMNS)].to_numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(val_out[list(PROB_COLUMNS)].to_numpy(), expected, atol=1e-9)
    assert test_out["image"].tolist() == images and len(info["weight_grid"]) == 11
    best = min(row["val_log_loss"] for row in info["weight_grid"])
    assert info["val_log_loss"] == best


def test_choose_weights_prefers_the_member_validation_trusts():
    y = np.array([0, 1, 2, 3] * 5)
    right = np.eye(4)[y] * 0.9 + 0.025
    wrong = np.eye(4)[(y + 1) % 4] * 0.9 + 0.025
    weights, _ = choose_weights([wrong, right], y, step=0.25)
    np.testing.assert_allclose(weights, [0, 1])
    with pytest.raises(ValueError, match="at least two members"):
        ensemble_predictions({"a": pd.DataFrame()}, {"a": pd.DataFrame()})


def test_run_writes_the_ensemble_as_a_model_and_leaves_it_out_when_a_member_failed(tmp_path):
    from tumorbench._io import write_json
    from tumorbench.predictions.io import read_predictions, write_predictions
    from tumorbench.run import summary_table, write_ensemble
    from tumorbench.runfolder import MODEL_FILES, RunFolder, predictions_file

    run = RunFolder(tmp_path)
    y = np.arange(12) % 4
    labels, images = [CLASS_NAMES[k] for k in y], [f"i{k}.jpg" for k in range(12)]
    rng = np.random.default_rng(1)
    for name, seconds in (("a", 10.0), ("b", 5.0)):
        folder = run.model(name)
        folder.mkdir(parents=True)
        for split in ("val", "test"):
            write_predictions(predictions_file(folder, split), _frame(images, labels, rng.dirichlet(np.ones(4), 12)))
        for f in MODEL_FILES:
            if not (folder / f).exists():
                write_json(folder / f, {"name": name, "train_seconds": seconds, "best_epoch": 1, "weights": "none"})
    folder = write_ensemble(run, ["a", "b"])
    info = json.loads((folder / "info.json").read_text())
    assert info["train_seconds"] == 15.0 and set(info["member_weights"]) == {"a", "b"}
    assert len(read_predictions(predictions_file(folder, "test"))) == 12
    assert "ensemble" in summary_table(tmp_path)["model"].tolist()
    assert write_ensemble(run, ["a", "b"], failed=["b"]) is None
