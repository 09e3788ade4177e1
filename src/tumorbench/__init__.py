"""tumorbench: train, evaluate and compare brain-tumour MRI classifiers.

From Python (a notebook), the CLI's commands are functions returning result objects:

    import tumorbench as tb
    result = tb.run(models=["model_1", "model_3"], epochs=2, image_size=48)
    result.metrics, result.per_class, result.figures["model_1/roc"], result.save("report.html")
    tb.evaluate({"a": "a.csv", "b": frame_b}), tb.audit("data/"), tb.predict("model.onnx", "data/")

`tumorbench.run` and `tumorbench.audit` are these functions, although modules of the same names exist
(`tumorbench/run.py`, `tumorbench/audit/`): import from those modules with `from tumorbench.run import
run_benchmark`, which is unaffected. Everything here loads on first use, so `import tumorbench` stays
light.
"""

import sys
import types

from tumorbench._env import bounded_openmp_spinning

# First, before anything imports torch: OpenMP reads its wait settings once, at load.
bounded_openmp_spinning()

from tumorbench._lazy import lazy_exports  # noqa: E402
from tumorbench.classes import CLASS_NAMES  # noqa: E402

__version__ = "0.1.0"

_API = {name: "api.commands" for name in ("run", "study_imbalance", "evaluate", "audit", "predict",
                                         "score_external")}
_API.update({name: "api.results" for name in ("RunResult", "EvaluationResult", "AuditResult", "PredictionResult")})
_API.update({name: "api.errors" for name in ("TumorbenchError", "InvalidInputError", "InputNotFoundError",
                                             "InputReadError")})
_API["ModelsFailed"] = "run"

__getattr__, _lazy_names = lazy_exports(__name__, _API)
__all__ = sorted(["CLASS_NAMES", "__version__", *_lazy_names])


class _Package(types.ModuleType):
    """The package module: importing the submodule `tumorbench.run` (or `tumorbench.audit`) must not
    replace the API function of the same name, which the import system would do by binding the submodule
    as an attribute. The submodule stays reachable in `sys.modules` and through `from ... import`."""

    def __setattr__(self, name: str, value) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
