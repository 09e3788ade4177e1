"""Checkpoints: the weights together with everything needed to use them correctly later, namely
the resolved config, the class names and order, and the preprocessing spec."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tumorbench._io import atomic_write
from tumorbench.classes import CLASS_NAMES, check_class_name
from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.models import create_model, get_model_entry
from tumorbench.safe_load import torch_load

FORMAT = "tumorbench-checkpoint"
VERSION = 1


def checkpoint_payload(*, model: nn.Module, architecture: str, spec: PreprocessSpec,
                       meta: dict[str, Any], classes: Sequence[str] = CLASS_NAMES) -> dict[str, Any]:
    """What a checkpoint holds: tensors, plain containers, strings and numbers only, so that it loads
    with PyTorch's weights-only unpickler (see `tumorbench.safe_load`). `classes`: the class of each of
    the model's outputs, in order (the truth about the model from then on)."""
    return {
        "format": FORMAT, "version": VERSION, "architecture": architecture,
        "class_names": list(classes), "preprocess": spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **meta,
    }


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    return atomic_write(path, lambda p: torch.save(payload, p))


def save_checkpoint(path: str | os.PathLike, *, model: nn.Module, architecture: str, spec: PreprocessSpec,
                    meta: dict[str, Any], classes: Sequence[str] = CLASS_NAMES) -> Path:
    return write_checkpoint(path, checkpoint_payload(model=model, architecture=architecture, spec=spec, meta=meta,
                                                     classes=classes))


@dataclass
class LoadedModel:
    model: nn.Module
    spec: PreprocessSpec
    meta: dict[str, Any]
    column_order: list[int]  # model output column for each class of `classes`
    classes: tuple[str, ...] = CLASS_NAMES  # the model's classes, in its output order (the checkpoint's)


def load_checkpoint(path: str | os.PathLike, *, device: torch.device | str = "cpu",
                    trust_pickle: bool = False) -> LoadedModel:
    """Load a tumorbench checkpoint; errors name the file and the fix.

    Read with PyTorch's weights-only unpickler (see `tumorbench.safe_load`): a checkpoint holds
    tensors, plain containers and strings only, so a file that needs more did not come from
    tumorbench and is refused unless `trust_pickle`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    return checkpoint_from_payload(torch_load(path, trust_pickle=trust_pickle), path, device=device)


def checkpoint_from_payload(ckpt: Any, path: str | os.PathLike, *, device: torch.device | str = "cpu") -> LoadedModel:
    """The model of a checkpoint already read from `path` (named in errors)."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a tumorbench checkpoint (for other model files see "
                         "`tumorbench predict --help`)")
    names = list(ckpt.get("class_names") or ())
    try:
        for name in names:
            check_class_name(name, where=f"{path}: class_names")
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"{path}: the checkpoint's class_names {names} are not two or more distinct classes; "
                         "the file is damaged: train the model again")
    spec = PreprocessSpec.from_dict(ckpt["preprocess"])
    arch = ckpt["architecture"]
    get_model_entry(arch)
    model = create_model(arch, spec, num_classes=len(names))
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit architecture {arch!r} at {spec.size} px: "
                         f"{str(exc).splitlines()[0]}") from None
    model.to(device).eval()
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return LoadedModel(model, spec, meta, list(range(len(names))), tuple(names))
