import pytest

from tumorbench.config import make_config, preset, resolve_model


def _resolved(config, name):
    return resolve_model(next(m for m in config.models if m.name == name), config)


def test_defaults_are_the_seed_recipe():
    config = make_config()
    assert [m.name for m in config.models] == ["baseline", "model_1", "model_2", "model_3"]
    m1 = _resolved(config, "model_1")
    assert (m1.epochs, m1.batch_size, m1.lr, m1.preprocess.size) == (6, 32, 1e-3, 256)
    assert _resolved(config, "model_2").balance == "augment_balance"
    assert _resolved(config, "baseline").preprocess.size == 299


def test_precedence_registry_then_run_then_model_then_set():
    config = make_config({"image_size": 128, "train": {"epochs": 3}},
                         {"models": ["model_1", {"name": "model_3", "image_size": 96, "lr": 0.01}]},
                         sets=["model_1.epochs=2", "train.batch_size=8"])
    m1, m3 = _resolved(config, "model_1"), _resolved(config, "model_3")
    assert (m1.preprocess.size, m1.epochs, m1.batch_size) == (128, 2, 8)
    assert (m3.preprocess.size, m3.epochs, m3.lr) == (96, 3, 0.01)


def test_the_same_architecture_can_run_twice_under_two_names():
    config = make_config({"models": ["model_1", {"name": "m1_weighted", "architecture": "model_1",
                                                  "balance": "class_weight"}]})
    assert _resolved(config, "m1_weighted").architecture == "model_1"
    assert _resolved(config, "m1_weighted").balance == "class_weight"


def test_embedded_preset_is_small():
    from tumorbench.models import get_model_entry

    config, real = make_config(preset("embedded")), make_config({})
    # Smaller inputs than on real data, but never below what a network accepts.
    for name in ("model_1", "model_2", "model_3", "baseline"):
        resolved = _resolved(config, name)
        size = resolved.preprocess.size
        assert get_model_entry(resolved.architecture).min_size <= size < _resolved(real, name).preprocess.size
    # The baseline is the pretrained EfficientNet-Lite0 (docs/pretrained.md), at the synthetic images' own side.
    import inspect

    from tumorbench.data.synthetic import generate_synthetic_dataset

    baseline = _resolved(config, "baseline")
    assert baseline.architecture == "effnet_lite0_imagenet" and baseline.transfer and baseline.finetune_epochs > 0
    assert baseline.preprocess.size <= inspect.signature(generate_synthetic_dataset).parameters["image_size"].default


@pytest.mark.parametrize("layer, sets, match", [
    ({"epochz": 3}, [], r"unknown key\(s\) \['epochz'\]; valid keys: data"),
    ({"train": {"lr": -1}}, [], "train.lr must be positive"),
    ({"models": ["model_9"]}, [], "valid models: model_1"),
    ({"models": [{"name": "model_1", "balance": "smote"}]}, [], "valid strategies: none, oversample"),
    ({"models": ["model_1", "model_1"]}, [], "must be unique"),
    ({"models": [{"name": "baseline", "image_size": 32}]}, [], "below the 75 px"),
    ({}, ["epochs"], "expected KEY=VALUE"),
    ({}, ["model_7.epochs=1"], "no model named 'model_7'"),
    ({"train": {"monitor": "auc"}}, [], "valid: val_accuracy, val_loss"),
], ids=["unknown-key", "negative-lr", "unknown-model", "unknown-balance", "duplicate-name",
        "too-small", "set-syntax", "set-unknown-model", "monitor"])
def test_invalid_config_fails_early_with_the_valid_options(layer, sets, match):
    with pytest.raises(ValueError, match=match):
        make_config(layer, sets=sets)


def test_evaluation_settings_come_from_the_config_and_set():
    config = make_config({"models": ["model_1"], "evaluation": {"bootstrap": {"resamples": 500, "method": "bca"},
                                                                  "cost_matrix": {"glioma": {"no_tumor": 10}}}},
                         sets=["evaluation.bootstrap.seed=7", "evaluation.alpha=0.01"])
    assert (config.evaluation.bootstrap.resamples, config.evaluation.bootstrap.method) == (500, "bca")
    assert (config.evaluation.bootstrap.seed, config.evaluation.alpha) == (7, 0.01)
    # The mapping form overrides "every error costs 1"; the resolved matrix is what config.yaml keeps.
    assert config.to_dict()["evaluation"]["cost_matrix"][0] == [0.0, 1.0, 10.0, 1.0]
    assert make_config({"models": ["model_1"]}).evaluation.cost_matrix[1] == [1.0, 0.0, 5.0, 1.0]
    with pytest.raises(ValueError, match=r"--set evaluation\.bootstrap\.samples=5: evaluation\.bootstrap: "
                                         r"unknown key\(s\) \['samples'\]; valid keys: resamples"):
        make_config({"models": ["model_1"]}, sets=["evaluation.bootstrap.samples=5"])
