"""Refit after choosing (`refit: true`): every choice is made on validation, then the chosen recipe is
fitted again on training + validation and predicts test; validation predictions, the epoch count and the
ensemble weights stay those chosen before the refit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import draw_sample
from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.config import load_yaml, make_config, resolve_model
from tumorbench.data.arrays import ImageArrays, join_arrays
from tumorbench.inference.checkpoint import load_checkpoint
from tumorbench.inference.compute import plan_compute
from tumorbench.predictions.ensemble import choose_weights
from tumorbench.predictions.io import read_predictions
from tumorbench.report._render import _info_value
from tumorbench.run import RunFolderError, run_benchmark
from tumorbench.training import cell as cell_module
from tumorbench.training.cell import train_cell
from tumorbench.training.fit import TrainingDiverged, epoch_lrs, fit

CPU = plan_compute(torch.device("cpu"), "fp32", threads=1)


def _images(n_per_class: int, seed: int, size: int = 32, prefix: str = "") -> ImageArrays:
    rng = np.random.default_rng(seed)
    labels = [c for c in CLASS_NAMES for _ in range(n_per_class)]
    x = np.stack([np.asarray(draw_sample(c, rng, size))[None] for c in labels])
    return ImageArrays.from_numpy(x, labels, [f"{prefix}{c}_{i}.png" for i, c in enumerate(labels)])


def _resolved(model: str = "hog_svm", **run):
    config = make_config({"image_size": 32, "models": [model], "threads": 1, **run})
    return resolve_model(config.models[0], config)


def _probs(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(PROB_COLUMNS)].to_numpy()


def test_refit_setting_round_trips_and_a_model_may_opt_out(tmp_path):
    config = make_config({"models": ["hog_svm", {"name": "small_resnet", "refit": False}], "refit": True})
    assert [resolve_model(m, config).refit for m in config.models] == [True, False]
    assert make_config({"models": ["hog_svm"]}).refit is False  # off unless asked: old runs do not change
    # The resolved config a run writes reads back as the same settings.
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    again = make_config(("config.yaml", load_yaml(path)))
    assert again == config and [resolve_model(m, again).refit for m in again.models] == [True, False]
    cli = make_config({"models": ["hog_svm", "small_resnet"]}, sets=["refit=true", "small_resnet.refit=false"])
    assert [resolve_model(m, cli).refit for m in cli.models] == [True, False]
    with pytest.raises(ValueError, match="refit must be true or false, got 'maybe'"):
        make_config({"refit": "maybe"})
    with pytest.raises(ValueError, match=r"models\[0\] \(hog_svm\)\.refit must be true or false"):
        make_config({"models": [{"name": "hog_svm", "refit": "later"}]})


def test_joined_splits_share_the_decoded_pixels():
    train, val = _images(3, seed=0), _images(2, seed=1, prefix="v")
    joined = join_arrays(train, val)
    assert len(joined) == 20 and joined.paths == train.paths + val.paths
    torch.testing.assert_close(joined.images(), torch.cat([train.images(), val.images()]))
    assert torch.equal(joined.y, torch.cat([train.y, val.y]))


def test_fitted_model_refit_on_training_and_validation_predicts_test_and_keeps_validation():
    train, val, test = _images(10, seed=0), _images(5, seed=1, prefix="v"), _images(5, seed=2, prefix="t")
    plain = train_cell(_resolved(), train, val, test, compute=CPU, resolved={})
    refit = train_cell(_resolved(refit=True), train, val, test, compute=CPU, resolved={})
    assert "refit" not in plain.info
    assert refit.info["refit"]["status"] == "done"
    assert refit.info["refit"]["images"] == len(train) + len(val) == 60
    assert refit.info["refit"]["epochs"] == 1
    # Validation: the chosen model's predictions, exactly (the refit model has seen those images).
    pd.testing.assert_frame_equal(refit.predictions["val"], plain.predictions["val"])
    # Test: another model, fitted on 60 images (more support vectors than the 40-image fit).
    assert not np.allclose(_probs(refit.predictions["test"]), _probs(plain.predictions["test"]))
    def n_support(r):
        return r.checkpoint["state_dict"]["head.support"].shape[0]

    assert n_support(refit) > n_support(plain)
    assert any("refit on training + validation (60 images" in n for n in refit.info["notes"])
    assert refit.info["train_seconds"] >= refit.info["refit"]["seconds"]
    # What the fit learned is counted (support vectors...), not the parameters it does not have.
    assert refit.info["n_params"] == 0
    assert refit.info["fitted_values"] == sum(v.numel() for k, v in refit.checkpoint["state_dict"].items()
                                              if k.startswith("head.")) > plain.info["fitted_values"]


def test_network_refit_runs_the_chosen_epochs_of_the_same_schedule_without_validation():
    rm = _resolved("small_resnet", train={"epochs": 4, "schedule": "cosine", "warmup_epochs": 1, "lr": 0.002})
    train, val = _images(4, seed=0), _images(2, seed=1, prefix="v")
    chosen = fit(rm, train, val, device=torch.device("cpu"), compute=CPU)
    assert len(chosen.history["epoch"]) == 4
    refit = fit(rm, join_arrays(train, val), None, device=torch.device("cpu"), compute=CPU, stop_after=3)
    assert refit.history["epoch"] == [1, 2, 3] and refit.best_epoch == 3
    # The first three learning rates of the 4-epoch schedule, not a new 3-epoch schedule.
    assert refit.history["lr"] == pytest.approx(epoch_lrs(0.002, 4, schedule="cosine", warmup_epochs=1)[:3])
    assert refit.history["lr"] != pytest.approx(epoch_lrs(0.002, 3, schedule="cosine", warmup_epochs=1))
    assert refit.history["val_accuracy"] == [None, None, None]
    assert sum(refit.history["class_counts"][0]) == 24  # the pooled images
    with pytest.raises(ValueError, match="pass stop_after"):
        fit(rm, train, None, device=torch.device("cpu"), compute=CPU)


def test_network_refit_in_a_cell_stops_at_the_best_epoch(monkeypatch):
    rm = _resolved("small_resnet", refit=True, train={"epochs": 3})
    seen = []
    real_fit = cell_module.fit

    def spy(rm_, train_, val_, **kw):
        seen.append((len(train_), val_ is None, kw.get("stop_after")))
        return real_fit(rm_, train_, val_, **kw)

    monkeypatch.setattr(cell_module, "fit", spy)
    train, val, test = _images(4, seed=0), _images(2, seed=1, prefix="v"), _images(2, seed=2, prefix="t")
    result = train_cell(rm, train, val, test, compute=CPU, resolved={})
    best = result.info["best_epoch"]
    assert seen == [(16, False, None), (24, True, best)]
    assert result.info["refit"]["epochs"] == best and result.info["refit"]["images"] == 24


def test_a_failed_refit_keeps_the_chosen_model_and_says_so(monkeypatch):
    real_fit = cell_module.fit

    def diverging_refit(rm_, train_, val_, **kw):
        if val_ is None:
            raise TrainingDiverged("the training loss became nan", epoch=1)
        return real_fit(rm_, train_, val_, **kw)

    train, val, test = _images(8, seed=0), _images(4, seed=1, prefix="v"), _images(4, seed=2, prefix="t")
    plain = train_cell(_resolved(), train, val, test, compute=CPU, resolved={})
    monkeypatch.setattr(cell_module, "fit", diverging_refit)
    result = train_cell(_resolved(refit=True), train, val, test, compute=CPU, resolved={})
    assert result.info["refit"]["status"] == "failed" and "nan" in result.info["refit"]["reason"]
    for split in ("val", "test"):
        pd.testing.assert_frame_equal(result.predictions[split], plain.predictions[split])
    assert any("refit on training + validation failed" in n for n in result.info["notes"])


def test_the_report_says_in_words_where_test_came_from():
    done = _info_value("refit", {"status": "done", "images": 2870, "epochs": 1, "seconds": 11.7})
    assert done == "done: fitted again on 2870 images for 1 epoch in 12 s; this model scored test"
    failed = _info_value("refit", {"status": "failed", "reason": "the training loss became nan"})
    assert failed == "failed (the training loss became nan); the chosen model scored test"
    assert _info_value("n_params", 0) == "none"
    assert _info_value("fitted_values", 1_500_000) == "1.50 M" and _info_value("fitted_values", 41_235) == "41,235"


def test_a_refit_model_that_predicts_nan_is_named_as_such(monkeypatch):
    real_refit = cell_module.refit_on_all

    def poisoned_refit(*args, **kwargs):
        refit, record = real_refit(*args, **kwargs)
        refit.model.head.calib_bias.fill_(float("nan"))  # the refit model alone gives non-finite logits
        return refit, record

    train, val, test = _images(8, seed=0), _images(4, seed=1, prefix="v"), _images(4, seed=2, prefix="t")
    plain = train_cell(_resolved(), train, val, test, compute=CPU, resolved={})
    monkeypatch.setattr(cell_module, "refit_on_all", poisoned_refit)
    result = train_cell(_resolved(refit=True), train, val, test, compute=CPU, resolved={})
    assert result.info["refit"]["status"] == "failed"
    assert "the refit model's weights give non-finite probabilities on the test split" in result.info["refit"]["reason"]
    for split in ("val", "test"):  # the chosen model scored both, as without refit
        pd.testing.assert_frame_equal(result.predictions[split], plain.predictions[split])


def _two_model_config(**run):
    return make_config({"image_size": 32, "threads": 1, "train": {"epochs": 1}, "ensemble": ["hog_svm", "model_1"],
                        "models": ["hog_svm", {"name": "model_1", "refit": False}], **run})


@pytest.mark.slow
def test_run_refits_scores_test_with_the_refit_model_and_weights_the_ensemble_before_it(tiny_dataset, tmp_path):
    plain_out, refit_out = tmp_path / "plain", tmp_path / "refit"
    run_benchmark(_two_model_config(), data_root=tiny_dataset, out=plain_out)
    run_benchmark(_two_model_config(refit=True), data_root=tiny_dataset, out=refit_out)
    models = refit_out / "models"
    n_train = len(pd.read_csv(refit_out / "splits" / "train.csv"))
    n_val = len(pd.read_csv(refit_out / "splits" / "val.csv"))
    info = json.loads((models / "hog_svm" / "info.json").read_text())
    assert info["refit"]["images"] == n_train + n_val and info["train_images"] == n_train
    assert "refit" not in json.loads((models / "model_1" / "info.json").read_text())
    # Validation predictions: the same as without refit; test: the refit model's, which the checkpoint holds.
    for name in ("hog_svm", "model_1"):
        pd.testing.assert_frame_equal(read_predictions(models / name / "predictions_val.csv"),
                                      read_predictions(plain_out / "models" / name / "predictions_val.csv"))
    test = read_predictions(models / "hog_svm" / "predictions_test.csv")
    plain_test = read_predictions(plain_out / "models" / "hog_svm" / "predictions_test.csv")
    assert not np.allclose(_probs(test), _probs(plain_test))
    assert load_checkpoint(models / "hog_svm" / "checkpoint.pt").meta["refit"]["images"] == n_train + n_val
    # The ensemble's weights: chosen on the validation predictions made before the refit, as without it.
    ens = json.loads((models / "ensemble" / "info.json").read_text())
    plain_ens = json.loads((plain_out / "models" / "ensemble" / "info.json").read_text())
    assert ens["member_weights"] == plain_ens["member_weights"]
    frames = {m: read_predictions(models / m / "predictions_val.csv") for m in ("hog_svm", "model_1")}
    labels = frames["hog_svm"]["label"].map(CLASS_NAMES.index).to_numpy()
    weights, _ = choose_weights([_probs(f) for f in frames.values()], labels)
    assert list(ens["member_weights"].values()) == pytest.approx(weights.tolist())
    assert any("hog_svm refit on training + validation" in n for n in ens["notes"])

    # --resume: turning refit off for a complete model is a change of its settings, refused...
    with pytest.raises(RunFolderError, match="settings of complete model hog_svm"):
        run_benchmark(_two_model_config(), data_root=tiny_dataset, out=refit_out, resume=True)
    # ...and a half-written model folder (no info.json) is trained and refit again.
    (models / "hog_svm" / "info.json").unlink()
    run_benchmark(_two_model_config(refit=True), data_root=tiny_dataset, out=refit_out, resume=True)
    again = json.loads((models / "hog_svm" / "info.json").read_text())
    assert again["refit"]["images"] == n_train + n_val
    np.testing.assert_allclose(_probs(read_predictions(models / "hog_svm" / "predictions_test.csv")), _probs(test),
                               atol=1e-6)


def test_runs_started_before_refit_existed_resume_as_refit_off(tiny_dataset, tmp_path):
    out = tmp_path / "old"
    config = make_config({"image_size": 32, "threads": 1, "models": ["hog_svm"]})
    run_benchmark(config, data_root=tiny_dataset, out=out)
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    for model in resolved["resolved_models"]:
        del model["refit"]
    del resolved["refit"]
    (out / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    run_benchmark(config, data_root=tiny_dataset, out=out, resume=True)  # kept, not refused
