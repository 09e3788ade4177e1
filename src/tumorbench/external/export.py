"""Export a tumorbench checkpoint to ONNX, preprocessing sidecar included.

The exported graph takes 0..255 pixels (float, NCHW, any batch size) and returns probabilities: the
checkpoint's scaling and the softmax are inside the graph, so the file cannot be fed wrongly scaled
inputs. The sidecar `<file>.tumorbench.yaml` states size, colour, resize filter and class order, and
`load_model_source` reads the pair back to the same probabilities.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from tumorbench._io import write_bytes
from tumorbench.data.preprocess import Preprocess, PreprocessSpec
from tumorbench.external._extras import require
from tumorbench.external.spec import ExternalSpec, sidecar_path, write_spec_file

log = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "pixels", "probabilities"


class _WithPreprocessing(nn.Module):
    """0..255 pixels -> the checkpoint's spec (`Preprocess`, the same code training runs) -> network -> softmax."""

    def __init__(self, model: nn.Module, spec: PreprocessSpec):
        super().__init__()
        self.preprocess = Preprocess(spec)
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(self.preprocess(x)).float(), dim=1)


@contextlib.contextmanager
def _quiet_exporter_passes():
    """The exporter's graph passes (onnxscript, onnx_ir) log every step at INFO, which the CLI's INFO
    logging would print as a dozen lines of noise; their warnings and errors still show."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_graph(module: nn.Module, example: torch.Tensor, folder: Path, opset: int | None) -> Path:
    path = folder / "model.onnx"
    try:
        require("onnxscript")  # the torch.export-based exporter, PyTorch's default since 2.9
        with _quiet_exporter_passes():
            torch.onnx.export(module, (example,), str(path), dynamo=True, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_shapes=({0: torch.export.Dim.DYNAMIC},),
                              opset_version=opset, verbose=False)
    except ImportError:
        log.info("onnxscript is not installed: using PyTorch's TorchScript-based ONNX exporter")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that exporter announces its retirement
            torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset or 17,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return path


def export_onnx(checkpoint: str | os.PathLike, out_path: str | os.PathLike, *, opset: int | None = None,
                trust_pickle: bool = False) -> Path:
    """Write `out_path` (.onnx, one self-contained file) and its sidecar; returns the ONNX path.

    The checkpoint is read without unpickling arbitrary objects unless `trust_pickle`.

        export_onnx("runs/x/models/model_1/checkpoint.pt", "model_1.onnx")
        load_model_source("model_1.onnx").predict_proba(x)   # same probabilities
    """
    from tumorbench.inference.checkpoint import load_checkpoint

    onnx = require("onnx")
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise ValueError(f"{out_path}: the ONNX file name must end in .onnx (the loader recognises it by that)")
    loaded = load_checkpoint(checkpoint, device="cpu", trust_pickle=trust_pickle)
    spec, meta = loaded.spec, loaded.meta
    module = _WithPreprocessing(loaded.model.float().eval(), spec).eval()
    example = torch.full((2, spec.channels, spec.size, spec.size), 127.0)
    with tempfile.TemporaryDirectory(prefix="tumorbench-export-") as tmp:
        # Exporters may split weights into a side file; loading and re-serialising yields one file.
        model = onnx.load(str(_export_graph(module, example, Path(tmp), opset)))
    onnx.checker.check_model(model)
    write_bytes(out_path, model.SerializeToString())
    arch = meta.get("architecture", "?")
    name = meta.get("name") or arch
    sidecar = ExternalSpec(
        input_size=spec.size, color=spec.mode, scaling="raw", layout="NCHW", resize=spec.resize,
        classes=tuple(meta.get("class_names") or ()), outputs="probabilities", name=name,
        description=(f"exported by tumorbench from {checkpoint.name} ({arch}); the graph takes 0..255 pixels "
                     f"and applies the checkpoint's preprocessing ({spec.describe()}) and the softmax itself"),
    )
    write_spec_file(sidecar_path(out_path), sidecar, header=f"{out_path.name}: preprocessing for tumorbench and "
                    "anyone feeding this model (input 'pixels': float 0..255, NCHW, any batch size)")
    return out_path
