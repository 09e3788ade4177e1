"""Loaders of each model format: tumorbench checkpoints, PyTorch state dicts, TorchScript, ONNX, Keras.

Each returns a Predictor. Optional runtimes (onnxruntime, keras) are imported only when their format
is loaded, and a missing one is reported with the extra that installs it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tumorbench.classes import CLASS_NAMES
from tumorbench.external._extras import import_keras, require
from tumorbench.external.formats import LoadOptions, formats_sentence
from tumorbench.external.spec import (
    Declared,
    ExternalSpec,
    ResolvedSpec,
    SpecError,
    resolve_spec,
)
from tumorbench.inference.predictor import Predictor, network_predictor, torch_forward
from tumorbench.safe_load import UnsafePickleError, torch_load

log = logging.getLogger(__name__)

def _predictor(path: Path, fmt: str, description: str, resolved: ResolvedSpec, forward, *,
               name: str | None, notes: list[str] | None = None) -> Predictor:
    return Predictor(
        name=name or path.stem, format=fmt, detail=description, spec=resolved.preprocess,
        forward=forward, column_order=resolved.column_order, outputs=resolved.outputs, source=str(path),
        preprocessing=resolved.describe(), notes=[*resolved.notes, *(notes or [])],
    )


# --- tumorbench checkpoints and state dicts -------------------------------------------------------



def load_checkpoint_predictor(path: Path, user: ExternalSpec, *, device: torch.device,
                              payload: Mapping) -> Predictor:
    """A tumorbench checkpoint (already read as `payload`) carries its own preprocessing; a spec may only
    repeat it."""
    from tumorbench.classes import canonical_class
    from tumorbench.inference.checkpoint import checkpoint_from_payload

    loaded = checkpoint_from_payload(payload, path, device=device)
    pre = loaded.spec
    names = tuple(loaded.meta.get("class_names") or CLASS_NAMES)
    own = {"input_size": pre.size, "color": pre.mode, "scaling": pre.scaling, "layout": pre.layout,
           "resize": pre.resize, "classes": names}
    for key, have in own.items():
        given = getattr(user, key)
        if given is None:
            continue
        if key == "classes":
            same = [canonical_class(c) for c in given] == [canonical_class(c) for c in have]
        elif key == "scaling":
            same = have is not None and ExternalSpec(scaling=given).scaling_mode == have
        else:
            same = given == have
        if not same:
            raise SpecError(
                f"{path}: a tumorbench checkpoint states its own preprocessing ({key} "
                f"{have or 'custom mean/std'}); the spec says {key} {given}: remove it (drop the option or the "
                "sidecar key)"
            )
    meta = loaded.meta
    arch = meta.get("architecture", "?")
    desc = f"tumorbench checkpoint of {arch}" + (f" ({meta['name']})" if meta.get("name") else "")
    return network_predictor(loaded.model, pre, name=user.name or meta.get("name") or path.stem, device=device,
                             column_order=loaded.column_order, classes=loaded.classes, detail=desc, source=str(path))


def _unwrap_state_dict(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    notes: list[str] = []
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping) and obj[key] and all(
                    isinstance(v, torch.Tensor) for v in obj[key].values()):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a PyTorch state dict (a mapping of parameter names to tensors); "
                         "pass a tumorbench checkpoint, a TorchScript file, an .onnx or a Keras model")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        # Saved from a DataParallel/DistributedDataParallel wrapper.
        state = {k[len("module."):]: v for k, v in state.items()}
        notes.append("state dict keys had a 'module.' prefix (DataParallel): removed")
    return state, notes


def load_torch_file(path: Path, user: ExternalSpec, *, device: torch.device, hint: str,
                    options: LoadOptions = LoadOptions()) -> Predictor:
    """A torch.save file: a tumorbench checkpoint, or a state dict of a registered architecture.

    Read once, with the weights-only unpickler unless `trust_pickle` (see `tumorbench.safe_load`)."""
    arch = options.arch
    try:
        obj = torch_load(path, trust_pickle=options.trust_pickle)
    except UnsafePickleError:
        raise
    except ValueError as exc:
        raise ValueError(f"{exc}; tumorbench reads {formats_sentence()}") from None
    if isinstance(obj, Mapping) and obj.get("format") == "tumorbench-checkpoint":
        if arch is not None:
            raise SpecError(f"{path}: a tumorbench checkpoint names its own architecture "
                            f"({obj.get('architecture')}); remove --arch")
        return load_checkpoint_predictor(path, user, device=device, payload=obj)
    state, notes = _unwrap_state_dict(obj, path)
    if arch is None:
        from tumorbench.models import list_models

        raise SpecError(f"{path}: holds a PyTorch state dict (weights without the network); name its "
                        f"architecture with --arch NAME, one of: {', '.join(list_models())}")
    return load_state_dict_predictor(path, state, user, arch=arch, device=device, hint=hint, notes=notes)


def load_state_dict_predictor(path: Path, state: dict, user: ExternalSpec, *, arch: str,
                              device: torch.device, hint: str, notes: list[str]) -> Predictor:
    from tumorbench.models import create_model, get_model_entry

    entry = get_model_entry(arch)
    # The registry's preprocessing is the base: it follows the model; the spec overrides it.
    resolved = resolve_spec(user, Declared(), where=str(path), hint=hint, base=entry.preprocess)
    if resolved.layout != "NCHW":
        raise SpecError(f"{path}: registered PyTorch architectures take NCHW input; remove layout "
                        f"{resolved.layout}")
    model = create_model(arch, resolved.preprocess, num_classes=len(CLASS_NAMES))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:3])
        raise ValueError(
            f"{path}: the weights do not fit architecture {arch!r} at {resolved.input_size} px "
            f"{resolved.color}: {first} {detail}; state the input size and colour they were trained at "
            f"({hint}) or pick the right --arch"
        ) from None
    return network_predictor(model, resolved.preprocess, name=user.name or path.stem, device=device,
                             column_order=resolved.column_order, format="state_dict",
                             detail=f"PyTorch state dict of registered architecture {arch}", source=str(path),
                             notes=[*resolved.notes, *notes])


# --- TorchScript ------------------------------------------------------------------------------------

def load_torchscript(path: Path, user: ExternalSpec, *, device: torch.device, hint: str,
                     options: LoadOptions = LoadOptions()) -> Predictor:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit's deprecation notice
            model = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # torch raises RuntimeError, ValueError or its own errors for a bad archive
        raise ValueError(f"{path}: cannot load as TorchScript ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    model.eval()
    # TorchScript does not record its input shape: size and colour must be stated, layout is PyTorch's.
    resolved = resolve_spec(user, Declared(), where=str(path), hint=hint, default_layout="NCHW")
    return _predictor(path, "torchscript", "TorchScript module", resolved,
                      torch_forward(model, device, softmax=False), name=user.name)


# --- ONNX -------------------------------------------------------------------------------------------

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


def load_onnx(path: Path, user: ExternalSpec, *, device: torch.device, hint: str,
              options: LoadOptions = LoadOptions()) -> Predictor:
    ort = require("onnxruntime")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's business
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for invalid graphs
        raise ValueError(f"{path}: onnxruntime cannot load this file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); is it a complete .onnx model?") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                         "tumorbench feeds one image batch")
    inp = inputs[0]
    if inp.type not in _ORT_DTYPES:
        raise ValueError(f"{path}: the model's input {inp.name!r} is {inp.type}; tumorbench feeds float "
                         f"tensors ({', '.join(_ORT_DTYPES)})")
    dtype = _ORT_DTYPES[inp.type]
    declared = Declared.from_shape(inp.shape, where=str(path))
    resolved = resolve_spec(user, declared, where=str(path), hint=hint)
    out_name = session.get_outputs()[0].name

    def forward(x: torch.Tensor) -> np.ndarray:
        return session.run([out_name], {inp.name: x.numpy().astype(dtype, copy=False)})[0]

    desc = f"ONNX model, input {inp.name} {list(declared.shape or inp.shape)}"
    return _predictor(path, "onnx", desc, resolved, forward, name=user.name)


# --- Keras ------------------------------------------------------------------------------------------

def load_keras(path: Path, user: ExternalSpec, *, device: torch.device, hint: str,
               options: LoadOptions = LoadOptions()) -> Predictor:
    keras = import_keras()
    if path.suffix.lower() in (".h5", ".hdf5"):
        require("h5py")
    try:
        # safe_mode: Lambda layers (marshalled Python code) are refused, never run.
        model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types (ValueError, TypeError, its own) for files it cannot read
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"{path}: Keras {keras.__version__} (PyTorch backend) cannot load this file "
            f"({type(exc).__name__}: {msg[:300]}); models with custom or Lambda layers need their code, "
            "and TensorFlow SavedModels are not read: re-save it as .keras with Keras 3, or convert it to "
            ".onnx (tf2onnx) and load that"
        ) from None
    shapes = model.input_shape
    if isinstance(shapes, list):
        if len(shapes) != 1:
            raise ValueError(f"{path}: the Keras model has {len(shapes)} inputs; tumorbench feeds one image batch")
        shapes = shapes[0]
    declared = Declared.from_shape(shapes, where=str(path))
    # Keras' convolutions are channels-last unless the model was built otherwise.
    default = "NCHW" if keras.config.image_data_format() == "channels_first" else "NHWC"
    resolved = resolve_spec(user, declared, where=str(path), hint=hint, default_layout=default)

    # A functional model saved with `inputs=[x]` expects a list of one tensor (Keras warns otherwise).
    as_list = isinstance(getattr(model, "_inputs_struct", None), (list, tuple))

    def forward(x: torch.Tensor) -> np.ndarray:
        batch = x.numpy()
        with torch.no_grad():  # the PyTorch backend would otherwise record a graph for gradients
            out = model([batch] if as_list else batch, training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        if isinstance(out, torch.Tensor):
            return out.detach().float().cpu().numpy()
        return np.asarray(keras.ops.convert_to_numpy(out))

    desc = f"Keras {keras.__version__} model {model.name!r} on the PyTorch backend"
    return _predictor(path, "keras", desc, resolved, forward, name=user.name)
