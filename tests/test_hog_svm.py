"""hog_svm: HOG features against scikit-image, the SVM against scikit-learn, and the model through
fit, checkpoint, run (the best-cpu preset), predict and export like any network."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from sklearn.svm import SVC

from tests.conftest import draw_sample
from tumorbench.classes import CLASS_NAMES
from tumorbench.cli import main
from tumorbench.config import list_presets, make_config, preset, resolve_model
from tumorbench.data.arrays import ImageArrays
from tumorbench.inference.checkpoint import load_checkpoint, save_checkpoint
from tumorbench.models import create_model, get_model_entry, list_models
from tumorbench.models.hog import HOGFeatures
from tumorbench.models.hog_svm import HogSVM, KernelSVMHead
from tumorbench.training.fit import fit

skimage_feature = pytest.importorskip("skimage.feature")


@pytest.mark.parametrize("shape, cell, block, orientations", [
    ((64, 64), 8, 2, 9), ((50, 70), 6, 3, 12), ((33, 47), 4, 1, 5),
], ids=["square-default", "ragged-cells", "single-cell-blocks"])
def test_hog_matches_scikit_image(shape, cell, block, orientations):
    rng = np.random.default_rng(0)
    image = rng.random(shape)
    image[10:20, 5:30] += 2.0  # edges in every direction, not noise alone
    ref = skimage_feature.hog(image, orientations=orientations, pixels_per_cell=(cell, cell),
                              cells_per_block=(block, block), block_norm="L2-Hys")
    hog = HOGFeatures(orientations=orientations, cell=cell, block=block)
    ours64 = hog(torch.from_numpy(image)[None, None])[0].numpy()
    ours32 = hog(torch.from_numpy(image).float()[None, None])[0].numpy()
    assert ours64.shape == ref.shape
    np.testing.assert_allclose(ours64, ref, atol=1e-6)
    # float32 moves a few pixels across bin edges at most: features stay close.
    assert np.abs(ours32 - ref).max() < 1e-3


def test_hog_of_colour_images_takes_the_strongest_channel_as_scikit_image():
    image = np.random.default_rng(1).random((40, 40, 3))
    ref = skimage_feature.hog(image, channel_axis=-1, cells_per_block=(3, 3), block_norm="L2-Hys")
    ours = HOGFeatures(block=3)(torch.from_numpy(image).permute(2, 0, 1)[None])[0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_hog_too_small_input_is_refused_with_the_minimum():
    with pytest.raises(ValueError, match="at least 16 px"):
        HOGFeatures(cell=8, block=2).output_dim(12)


def test_svm_head_reproduces_libsvm_decision_values_and_gives_probabilities():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 15)
    x = rng.normal(size=(60, 6)) + y[:, None] * np.array([1.5, -1, 0, 0, 0.5, 0])
    head = KernelSVMHead(6, 4)
    head.fit(x, y, C=3.0, seed=0)
    ref = SVC(kernel="rbf", C=3.0, gamma="scale", decision_function_shape="ovo").fit(x, y).decision_function(x)
    # the same optimum up to libsvm's stopping tolerance (1e-3): it sees a precomputed Gram matrix here
    np.testing.assert_allclose(head.decision(torch.from_numpy(x)).numpy(), ref, atol=5e-3)
    probs = torch.softmax(head(torch.from_numpy(x)), 1)
    assert torch.isfinite(probs).all() and torch.allclose(probs.sum(1), torch.ones(60, dtype=probs.dtype))
    assert (probs.argmax(1).numpy() == y).mean() > 0.8


def _images(n_per_class: int, seed: int, size: int = 40) -> ImageArrays:
    rng = np.random.default_rng(seed)
    labels = [c for c in CLASS_NAMES for _ in range(n_per_class)]
    x = np.stack([np.asarray(draw_sample(c, rng, size))[None] for c in labels])
    return ImageArrays.from_numpy(x, labels, [f"{c}_{i}.png" for i, c in enumerate(labels)])


def _resolved(**train):
    config = make_config({"image_size": 32, "train": train, "models": ["hog_svm"], "threads": 1})
    return resolve_model(config.models[0], config)


def test_fit_and_predict_on_generated_images_give_calibrated_probabilities():
    rm = _resolved()
    result = fit(rm, _images(12, seed=0), _images(4, seed=1), device=torch.device("cpu"))
    assert result.history["phase"] == ["fit"] and result.best_epoch == 1
    assert result.history["fit"]["support_vectors"] > 0
    held_out = _images(10, seed=2)
    x = rm.preprocess.to_tensor(held_out.x)
    probs = torch.softmax(result.model(x), 1)
    assert probs.shape == (40, 4) and torch.isfinite(probs).all()
    assert torch.allclose(probs.sum(1), torch.ones(40))
    assert (probs.argmax(1) == held_out.y).float().mean() > 0.7  # chance is 0.25
    assert len(set(np.round(probs[:, 0].numpy(), 4))) > 5  # probabilities, not one-hot votes


def test_unfitted_model_refuses_to_predict():
    with pytest.raises(RuntimeError, match="not fitted"):
        create_model("hog_svm")(torch.zeros(1, 1, 128, 128))


def test_fitted_model_refuses_sgd_only_balancing_when_configured():
    with pytest.raises(ValueError,
                       match="'hog_svm' is fitted in closed form and supports balance none or class_weight"):
        make_config({"models": [{"name": "hog_svm", "balance": "oversample"}]})


def test_checkpoint_round_trip_without_pickles(tmp_path):
    rm = _resolved()
    model = fit(rm, _images(8, seed=0), _images(2, seed=1), device=torch.device("cpu")).model
    path = save_checkpoint(tmp_path / "hog.pt", model=model, architecture="hog_svm", spec=rm.preprocess,
                           meta={"name": "hog_svm"})
    raw = torch.load(path, weights_only=True)  # plain tensors and data: PyTorch's safe unpickler reads it
    assert raw["state_dict"]["head.support"].shape[0] > 0
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, HogSVM)
    x = rm.preprocess.to_tensor(_images(3, seed=5).x)
    torch.testing.assert_close(loaded.model(x), model(x))


def test_registry_lists_hog_svm_with_its_input():
    assert "hog_svm" in list_models()
    entry = get_model_entry("hog_svm")
    assert entry.preprocess.grayscale and entry.preprocess.size == 128 and not entry.transfer


def test_unknown_preset_lists_the_valid_ones():
    assert "best-cpu" in list_presets()
    with pytest.raises(ValueError, match="valid presets: .*best-cpu"):
        preset("best-gpu")
    result = CliRunner().invoke(main, ["run", "--preset", "best-gpu", "--data", "."])
    assert result.exit_code != 0 and "valid presets:" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_best_cpu_preset_trains_predicts_and_exports(tiny_dataset, tmp_path):
    """Smoke: the preset end to end on a small generated dataset, then `predict` on its checkpoint."""
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--preset", "best-cpu", "--data", str(tiny_dataset), "--out", str(out),
                                       "--set", "threads=1", "--epochs", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    names = [m if isinstance(m, str) else m["name"] for m in preset("best-cpu")["models"]]
    for name in names:
        assert (out / "models" / name / "predictions_test.csv").is_file(), name
    assert (out / "report.html").is_file() or any(out.glob("report*"))
    members = preset("best-cpu").get("ensemble") or []
    if members:  # the ensemble is a model of the report like the others, its weights chosen on validation
        info = json.loads((out / "models" / "ensemble" / "info.json").read_text())
        assert info["members"] == members
        # The ensemble counts what its fitted members keep (hog_svm's support vectors...), besides parameters.
        fitted = [json.loads((out / "models" / m / "info.json").read_text()).get("fitted_values") or 0 for m in members]
        assert info["fitted_values"] == sum(fitted) > 0
        assert sum(info["member_weights"].values()) == pytest.approx(1)
        best = min(info["weight_grid"], key=lambda row: row["val_log_loss"])
        assert info["val_log_loss"] == best["val_log_loss"]
        frames = [pd.read_csv(out / "models" / m / "predictions_test.csv", keep_default_na=False).set_index("image")
                  for m in [*members, "ensemble"]]
        probs = [f.loc[frames[-1].index, [c for c in f.columns if c.startswith("prob_")]].to_numpy() for f in frames]
        mixed = sum(info["member_weights"][m] * p for m, p in zip(members, probs))
        np.testing.assert_allclose(probs[-1], mixed, atol=1e-6)
        assert "ensemble" in (out / "report.html").read_text(encoding="utf-8")
    # The preset refits hog_svm on training + validation; the report says test comes from that model.
    refit = json.loads((out / "models" / "hog_svm" / "info.json").read_text())["refit"]
    assert refit["status"] == "done" and refit["images"] > 0
    assert "refit on training + validation" in (out / "report.html").read_text(encoding="utf-8")
    ckpt = out / "models" / "hog_svm" / "checkpoint.pt"
    result = CliRunner().invoke(main, ["predict", "--model", str(ckpt), "--data", str(tiny_dataset), "--split",
                                       "testing", "--out", str(tmp_path / "p.csv"), "--device", "cpu"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ours = pd.read_csv(out / "models" / "hog_svm" / "predictions_test.csv", keep_default_na=False)
    theirs = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(theirs.sort_values("image").reset_index(drop=True),
                                  ours.sort_values("image").reset_index(drop=True), atol=1e-6)


def _fitted_registered(spec):
    data = _images(6, seed=0, size=spec.size)
    model = create_model("hog_svm", spec)
    model.fit_batches([spec.to_tensor(data.x)], data.y.numpy(), seed=0)
    return model, data


def test_onnx_export_of_the_registered_model_gives_the_same_probabilities(tmp_path):
    pytest.importorskip("onnxruntime")
    from tumorbench.external import load_model_source
    from tumorbench.external.export import export_onnx

    spec = get_model_entry("hog_svm").preprocess.with_size(48)
    model, data = _fitted_registered(spec)
    ckpt = save_checkpoint(tmp_path / "m.pt", model=model, architecture="hog_svm", spec=spec, meta={"name": "m"})
    source = load_model_source(str(export_onnx(ckpt, tmp_path / "m.onnx")))
    probs = source.predict_proba(data.x[:5])
    expected = torch.softmax(model(spec.to_tensor(data.x[:5])), 1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_legacy_onnx_exporter_gives_the_same_outputs(tmp_path):
    """`tumorbench export` falls back to the TorchScript-based exporter when the dynamo one fails."""
    ort = pytest.importorskip("onnxruntime")
    from tumorbench.data.preprocess import PreprocessSpec

    spec = PreprocessSpec(size=40, grayscale=True)
    data = _images(6, seed=0)
    model = HogSVM(size=40, num_classes=4)
    model.fit_batches([spec.to_tensor(data.x)], data.y.numpy(), seed=0)
    x = spec.to_tensor(data.x)
    torch.onnx.export(model.eval(), (x[:2],), str(tmp_path / "m.onnx"), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    ours = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x[:5].numpy()})[0]
    np.testing.assert_allclose(ours, model(x[:5]).detach().numpy(), atol=1e-4)
