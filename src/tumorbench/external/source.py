"""`load_model_source`: any model file (or zoo name) to a Predictor, with its preprocessing resolved."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from tumorbench.external.formats import LoadOptions, detect_format, formats_sentence
from tumorbench.external.spec import ExternalSpec, read_spec_file, sidecar_path
from tumorbench.inference.predictor import Predictor

ZOO_PREFIX = "zoo:"
_OPTIONS = "--spec FILE, --input-size, --color, --scaling, --layout, --classes"


def _device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    from tumorbench.device import select_device

    return select_device(str(device))


def _as_spec(spec: ExternalSpec | Mapping | None) -> ExternalSpec | None:
    if spec is None or isinstance(spec, ExternalSpec):
        return spec
    if isinstance(spec, Mapping):
        return ExternalSpec.from_dict(spec)
    raise TypeError(f"spec must be an ExternalSpec, a mapping or a spec file path, got {type(spec).__name__}")


def load_model_source(
    source: str | os.PathLike,
    *,
    spec: ExternalSpec | Mapping | str | os.PathLike | None = None,
    spec_file: str | os.PathLike | None = None,
    arch: str | None = None,
    device: torch.device | str | None = "cpu",
    trust_pickle: bool = False,
) -> Predictor:
    """Load any model tumorbench can benchmark, with the preprocessing it needs.

    `source` is a tumorbench checkpoint, a PyTorch state dict (with `arch`, a registered model name),
    a TorchScript file, an `.onnx` file, a Keras `.keras`/`.h5` file, or `zoo:NAME` (fetched on first
    use, see `tumorbench zoo list`). The preprocessing is layered: the zoo entry or the sidecar
    `<model file>.tumorbench.yaml` (replaced by `spec_file` when given), then `spec` (an ExternalSpec
    or a mapping of its keys; a path is taken as `spec_file`). What the model file declares (input
    shape) fills the gaps and must agree. PyTorch files are read without unpickling arbitrary objects
    unless `trust_pickle` (see `tumorbench.safe_load`).

    For example (a model file and a dataset of one's own)::

        p = load_model_source("model.onnx", spec={"scaling": "[0,1]", "classes": ["glioma",
                              "meningioma", "notumor", "pituitary"]})
        x, ok, bad = load_images(root, paths, p.spec); probs = p.predict_proba(x)
    """
    if isinstance(spec, (str, os.PathLike)):
        if spec_file is not None:
            raise ValueError("give the spec file once: as `spec` or as `spec_file`, not both")
        spec, spec_file = None, spec
    overrides = _as_spec(spec)
    dev = _device(device)
    text = os.fspath(source)

    if text.startswith(ZOO_PREFIX):
        from tumorbench.external.zoo import ensure_zoo_model, get_zoo_entry

        entry = get_zoo_entry(text[len(ZOO_PREFIX):], kind="model")
        path = ensure_zoo_model(entry.name)
        base = entry.spec_with_provenance()
        if spec_file is not None:
            base = base.updated(read_spec_file(spec_file))
        hint = f"the zoo entry {entry.name!r} states it; override with {_OPTIONS}"
        predictor = _load_path(path, base.updated(overrides), arch=arch, device=dev, hint=hint,
                               trust_pickle=trust_pickle)
        predictor.source = text
        if entry.caution:
            predictor.notes.append(f"caution: {entry.caution}")
        return predictor

    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: checkpoint not found: no model file at this path (tumorbench reads "
            f"{formats_sentence()}, and zoo:NAME)"
        )
    if path.is_dir():
        raise ValueError(
            f"{path}: is a folder; pass a model file. TensorFlow SavedModel folders are not read: convert "
            "them to .onnx (tf2onnx) or save the model as .keras"
        )
    if spec_file is not None:
        base, where = read_spec_file(spec_file), Path(spec_file)
    elif sidecar_path(path).is_file():
        base, where = read_spec_file(sidecar_path(path)), sidecar_path(path)
    else:
        base, where = ExternalSpec(), sidecar_path(path)
    hint = f"in {where} or with {_OPTIONS}"
    return _load_path(path, base.updated(overrides), arch=arch, device=dev, hint=hint, trust_pickle=trust_pickle)


def _load_path(path: Path, user: ExternalSpec, *, arch: str | None, device: torch.device, hint: str,
               trust_pickle: bool) -> Predictor:
    fmt = detect_format(path)
    if arch is not None and not fmt.takes_arch:
        raise ValueError(f"{path}: --arch names the network of a PyTorch state dict; this "
                         f"{fmt.name} file carries its own network: remove --arch")
    predictor = fmt.load(path, user, device=device, hint=hint,
                         options=LoadOptions(arch=arch, trust_pickle=trust_pickle))
    if user.description:
        predictor.provenance = user.description
    return predictor
