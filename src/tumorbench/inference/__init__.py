"""Prediction, in one place: a model becomes a `Predictor` (preprocessing spec, forward pass, classes),
its scores become probabilities by the one `to_probabilities` policy (also applied to predictions files),
the compute plan says how to run it on this machine, and tumorbench checkpoints are read here.

        from tumorbench.inference import load_checkpoint, network_predictor
        loaded = load_checkpoint("run/models/seed_cnn/checkpoint.pt")
        p = network_predictor(loaded.model, loaded.spec, name="seed_cnn", classes=loaded.classes)
        p.predict_proba(images)  # (N, n_classes), rows summing to 1

Models made elsewhere (ONNX, Keras, TorchScript, the zoo) are loaded by `tumorbench.external`, which
builds the same `Predictor`.
"""

from __future__ import annotations

from tumorbench._lazy import lazy_exports

# Names load on first use (PEP 562): predictions files read the probability policy without importing
# PyTorch.
_EXPORTS = {
    **{name: "predictor" for name in ("Predictor", "network_predictor", "torch_forward")},
    **{name: "probabilities" for name in ("NonFiniteOutputs", "softmax", "to_probabilities")},
    **{name: "compute" for name in ("ComputePlan", "plan_compute")},
    "PRECISIONS": "precision",
    **{name: "checkpoint" for name in ("LoadedModel", "checkpoint_payload", "load_checkpoint", "save_checkpoint",
                                       "write_checkpoint", "checkpoint_from_payload")},
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
