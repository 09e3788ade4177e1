"""The generalise-cpu preset: every choice on held-out appearance clusters, the pretrained Lite0 with its
own recipe beside best-cpu's members, and the preset end to end with an external test set that chooses
nothing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tumorbench.cli import main
from tumorbench.config import list_presets, make_config, preset, resolve_model


def _resolved(name: str) -> dict:
    config = make_config((f"preset {name}", preset(name)))
    return config, {m.name: resolve_model(m, config) for m in config.models}


def test_preset_chooses_on_held_out_clusters_and_keeps_best_cpus_members():
    assert "generalise-cpu" in list_presets()
    config, models = _resolved("generalise-cpu")
    # Validation that measures transfer: whole appearance clusters held out, not a random share.
    assert config.val_groups == "cluster"
    _, best = _resolved("best-cpu")
    # best-cpu's members keep best-cpu's recipe (a change there would be a different preset).
    for name in best:
        assert models[name].to_dict() == best[name].to_dict(), name
    assert set(config.ensemble) == set(models) == {*best, "lite0"}


def test_the_pretrained_member_has_its_own_recipe_not_the_from_scratch_one():
    config, models = _resolved("generalise-cpu")
    lite0, resnet = models["lite0"], models["small_resnet"]
    assert lite0.architecture == "effnet_lite0_imagenet" and lite0.weights == "imagenet"
    assert (lite0.optimizer, lite0.lr, lite0.label_smoothing, lite0.augment) == ("adam", 0.001, 0.0, "balance")
    assert (resnet.optimizer, resnet.lr, resnet.label_smoothing, resnet.augment) == ("adamw", 0.002, 0.1, "strong")
    assert lite0.finetune_epochs == 3 and lite0.epochs == 12 and not lite0.refit


@pytest.mark.slow
def test_generalise_cpu_end_to_end_with_an_external_that_chooses_nothing(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    args = ["run", "--preset", "generalise-cpu", "--data", str(tiny_dataset), "--out", str(out),
            "--external", str(tiny_dataset), "--set", "threads=1", "--epochs", "1",
            "--set", "lite0.finetune_epochs=1"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "models" / "ensemble" / "info.json").read_text())
    assert info["members"] == ["hog_svm", "small_resnet", "lite0"]
    # The weights are those of the lowest validation log-loss: the external set played no part.
    assert info["val_log_loss"] == min(row["val_log_loss"] for row in info["weight_grid"])
    metrics = json.loads((out / "metrics.json").read_text())
    external = next(iter(metrics["external"].values()))
    assert set(external["models"]) >= {"hog_svm", "small_resnet", "lite0", "ensemble"}
