"""The registry of model file formats tumorbench reads, like the model registry.

Adding a format is one loader plus its registration, either as a decorator on the loader:

    @register_format("myformat", "My format (.myf)", suffixes=(".myf",), extra="myformat")
    def load_myformat(path, user, *, device, hint, options) -> Predictor: ...

or, for a loader whose module is heavy to import, as a line in BUILT_IN below that names it by
"module:function" (loaded on first use, so `tumorbench --help` can list the formats without PyTorch).

Detection asks each format in registration order: a suffix it claims, else its `sniff(path)`; the last
resort is the format registered with `fallback=True` (PyTorch's torch.save files, which have neither a
fixed suffix nor a header of their own). Error messages and `--help` list the formats from here.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoadOptions:
    """Loader options that only some formats use."""

    arch: str | None = None  # registered architecture of a PyTorch state dict
    trust_pickle: bool = False  # read PyTorch files that need full unpickling (dangerous)


@dataclass(frozen=True)
class ModelFormat:
    name: str  # short name, shown in a Predictor's info ("onnx", "keras", ...)
    description: str  # how a person names it in a list ("ONNX (.onnx)")
    loader: Callable[..., Any] | str  # (path, user_spec, *, device, hint, options) -> Predictor, or "module:name"
    suffixes: tuple[str, ...] = ()  # lower-case file suffixes that mean this format
    sniff: Callable[[Path], bool] | None = None  # looks inside a file without a telling suffix
    extra: str | None = None  # the pip extra with its runtime, when it is not in the core install
    takes_arch: bool = False  # reads --arch (a state dict needs the network named)
    fallback: bool = False  # chosen when no other format claims the file


    def load(self, path: Path, user: Any, *, device: Any, hint: str, options: LoadOptions) -> Any:
        loader = self.loader
        if isinstance(loader, str):
            module, _, attr = loader.partition(":")
            loader = getattr(importlib.import_module(module), attr)
        return loader(path, user, device=device, hint=hint, options=options)


_FORMATS: dict[str, ModelFormat] = {}


def register_format(name: str, description: str, *, suffixes: tuple[str, ...] = (),
                    sniff: Callable[[Path], bool] | None = None, extra: str | None = None,
                    takes_arch: bool = False, fallback: bool = False, loader: str | None = None):
    """Register a loader under `name`: a decorator, or with `loader="module:function"` a plain call."""

    def wrap(load: Callable[..., Any] | str) -> Callable[..., Any] | str:
        if name in _FORMATS:
            raise ValueError(f"model format {name!r} is registered twice")
        _FORMATS[name] = ModelFormat(name, description, load, tuple(s.lower() for s in suffixes), sniff, extra,
                                     takes_arch, fallback)
        return load

    return wrap(loader) if loader is not None else wrap


def list_formats() -> list[ModelFormat]:
    return list(_FORMATS.values())


def formats_sentence() -> str:
    """'tumorbench checkpoints, PyTorch state dicts (with --arch), TorchScript, ...' for messages."""
    return ", ".join(f.description for f in list_formats())


def detect_format(path: Path) -> ModelFormat:
    """The format of `path`: by suffix, then by looking inside, then the fallback format."""
    formats = list_formats()
    suffix = path.suffix.lower()
    for fmt in formats:
        if suffix in fmt.suffixes:
            return fmt
    for fmt in formats:
        if fmt.sniff is not None and fmt.sniff(path):
            return fmt
    for fmt in formats:
        if fmt.fallback:
            return fmt
    raise ValueError(f"{path}: not a model format tumorbench reads; it reads {formats_sentence()}")


# --- the built-in formats ----------------------------------------------------------------------------

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _zip_names(path: Path) -> list[str]:
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def _is_torchscript(path: Path) -> bool:
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in _zip_names(path))


def _is_keras(path: Path) -> bool:
    names = _zip_names(path)
    if names:
        return "config.json" in names and any(n.endswith(".weights.h5") for n in names)
    with open(path, "rb") as fh:
        return fh.read(8) == _HDF5_MAGIC


_L = "tumorbench.external._loaders:"
register_format("torch", "tumorbench checkpoints, PyTorch state dicts (with --arch)", takes_arch=True,
                fallback=True, loader=_L + "load_torch_file")
register_format("torchscript", "TorchScript", sniff=_is_torchscript, loader=_L + "load_torchscript")
register_format("onnx", "ONNX (.onnx)", suffixes=(".onnx",), extra="onnx", loader=_L + "load_onnx")
register_format("keras", "Keras (.keras, .h5)", suffixes=(".keras", ".h5", ".hdf5"), sniff=_is_keras,
                extra="keras", loader=_L + "load_keras")
