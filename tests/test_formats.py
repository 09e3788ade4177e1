"""The registry of model formats: a new format is one loader plus its registration."""

from __future__ import annotations

import numpy as np
import pytest

from tumorbench.external import formats
from tumorbench.external.formats import detect_format, formats_sentence, list_formats, register_format


def test_built_in_formats_are_detected_by_suffix_content_or_fallback(tmp_path):
    assert [f.name for f in list_formats()][:4] == ["torch", "torchscript", "onnx", "keras"]
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n rest")
    (tmp_path / "m.weights").write_bytes(b"\x89HDF\r\n\x1a\n rest")  # HDF5 without a telling suffix
    (tmp_path / "m.pt").write_bytes(b"anything")
    assert detect_format(tmp_path / "m.onnx").name == "onnx"
    assert detect_format(tmp_path / "m.h5").name == "keras"
    assert detect_format(tmp_path / "m.weights").name == "keras"
    assert detect_format(tmp_path / "m.pt").name == "torch"


def test_a_registered_format_is_loaded_listed_and_refuses_arch(tmp_path, monkeypatch):
    from tumorbench.external import load_model_source
    from tumorbench.inference.predictor import Predictor

    monkeypatch.setattr(formats, "_FORMATS", dict(formats._FORMATS))  # registrations end with the test
    seen = {}

    @register_format("constant", "constant models (.const)", suffixes=(".const",))
    def load_constant(path, user, *, device, hint, options):
        seen["options"] = options
        from tumorbench.data.preprocess import PreprocessSpec

        return Predictor(name="const", format="constant", detail="always glioma", spec=PreprocessSpec(size=16),
                         forward=lambda x: np.tile([[1.0, 0, 0, 0]], (len(x), 1)), column_order=[0, 1, 2, 3],
                         outputs="probabilities", source=str(path))

    (tmp_path / "m.const").write_text("glioma")
    predictor = load_model_source(tmp_path / "m.const")
    assert predictor.format == "constant" and seen["options"].trust_pickle is False
    probs = predictor.predict_proba(np.zeros((3, 1, 16, 16), dtype=np.uint8))
    np.testing.assert_allclose(probs[:, 0], 1.0)
    assert "constant models (.const)" in formats_sentence()
    with pytest.raises(ValueError, match="this constant file carries its own network: remove --arch"):
        load_model_source(tmp_path / "m.const", arch="model_1")
    with pytest.raises(ValueError, match="registered twice"):
        register_format("constant", "again", loader="x:y")


def test_missing_model_message_lists_the_registered_formats(tmp_path):
    from tumorbench.external import load_model_source

    with pytest.raises(FileNotFoundError, match=r"tumorbench reads tumorbench checkpoints, PyTorch state dicts "
                                                r"\(with --arch\), TorchScript, ONNX \(\.onnx\), Keras"):
        load_model_source(tmp_path / "nope.bin")
