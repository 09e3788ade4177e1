"""ImageNet weights for transfer models: from the torch cache, a download, or a local file.

Tests and CI never download: with TUMORBENCH_OFFLINE=1 only the torch cache and local files are
used. When no weights can be had, the model trains from scratch and says so in every output.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import torch

from tumorbench._env import offline
from tumorbench.models.transfer import BACKBONES, torchvision_models
from tumorbench.safe_load import UnsafePickleError, torch_load

log = logging.getLogger(__name__)


def _torchvision_weights(arch: str):
    return torchvision_models().get_weight(BACKBONES[arch].weights)


def cached_weights_path(arch: str) -> Path:
    """Where torchvision keeps the downloaded ImageNet weights of `arch`."""
    url = _torchvision_weights(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_weights_file(path: str | os.PathLike) -> dict:
    """Read a state dict from a local file: a torchvision `.pth`, or a dict holding one under
    'state_dict' or 'model'."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        obj = torch_load(path, fix="save the weights alone with torch.save(model.state_dict(), PATH)")
    except UnsafePickleError:
        raise
    except ValueError as exc:
        raise ValueError(f"{path}: not a PyTorch weights file ({str(exc).partition(': ')[2]})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (parameter name -> tensor)")
    return obj


def resolve_weights(arch: str, weights: str) -> tuple[dict | None, str, str | None]:
    """Return (state dict or None, source, note). The note, when set, must reach every output."""
    if weights in ("none", "", None):
        return None, "none", "trained from scratch: no pretrained weights requested (weights: none)"
    if weights != "imagenet":
        try:
            state = load_weights_file(weights)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"{exc}; give a torchvision ImageNet weights file for {arch}, "
                             "'imagenet' or 'none'") from None
        return state, f"file:{weights}", None
    cached = cached_weights_path(arch)
    if cached.is_file():
        return load_weights_file(cached), "imagenet", None
    if offline():
        return None, "none", (f"trained from scratch: no ImageNet weights ({cached} absent, "
                              "downloads disabled by TUMORBENCH_OFFLINE); pass --weights PATH")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # a closed network should fail in seconds, not hang the run
    try:
        state = _torchvision_weights(arch).get_state_dict(progress=False, check_hash=True)
        return state, "imagenet", None
    except Exception as exc:  # urllib raises URLError, socket.timeout, ssl errors, HTTP errors...
        log.warning("could not download ImageNet weights for %s: %s", arch, exc)
        return None, "none", (f"trained from scratch: ImageNet weights could not be downloaded "
                              f"({type(exc).__name__}); pass --weights PATH with the file {cached.name}")
    finally:
        socket.setdefaulttimeout(previous)
