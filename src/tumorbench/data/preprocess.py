"""The preprocessing spec: how pixels become a model's input tensor, for every model tumorbench reads.

One type describes a tumorbench network and a model made elsewhere alike: input size, colour mode,
resize filter (decoding: `tumorbench.data.images`), intensity scaling (normalize, mean/std), channel
order (RGB or BGR) and layout (NCHW or NHWC). It is stored in checkpoints and exports, and applied by one
function, `apply_spec`, which training batches, `Predictor` and the module inside ONNX exports
(`Preprocess`) all call, so the paths can never drift apart. What a foreign model states about itself
(a sidecar, CLI options, its declared input shape) is resolved into this spec by
`tumorbench.external.spec.resolve_spec`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)  # Keras 'caffe' mode: the ImageNet mean in 0..255
RESIZE_METHODS = ("bilinear", "bicubic", "nearest", "lanczos")
LAYOUTS = ("NHWC", "NCHW")

# The canonical scalings of 0..255 pixels, what each does, and its (normalize, standardize, mean, std, bgr).
SCALING_TEXT = {
    "[0,1]": "pixels / 255 -> [0, 1]",
    "[-1,1]": "pixels / 127.5 - 1 -> [-1, 1]",
    "imagenet": "pixels / 255, then ImageNet mean/std per channel",
    "raw": "pixels as they are, 0..255",
    "caffe": "RGB -> BGR, minus the ImageNet mean in 0..255 (Keras 'caffe' mode)",
}
_SCALING_VALUES: dict[str, tuple[bool, bool, tuple[float, ...], tuple[float, ...], bool]] = {
    "[0,1]": (True, False, (0.5,), (0.5,), False),
    "[-1,1]": (True, True, (0.5,), (0.5,), False),
    "imagenet": (True, True, IMAGENET_MEAN, IMAGENET_STD, False),
    "raw": (False, False, (0.5,), (0.5,), False),
    "caffe": (False, True, CAFFE_MEAN_RGB, (1.0,), True),
}


@dataclass(frozen=True)
class PreprocessSpec:
    """Input size, colour mode, resize filter, intensity scaling, channel order and layout of a model."""

    size: int = 256  # side of the square input in pixels (images are resized, aspect not kept, as Keras does)
    grayscale: bool = True  # one channel (L) when true, three (RGB) otherwise
    normalize: bool = True  # divide 0..255 by 255
    standardize: bool = False  # then subtract `mean` and divide by `std`, per channel
    mean: tuple[float, ...] = field(default=(0.5,))  # per-channel mean used by `standardize`
    std: tuple[float, ...] = field(default=(0.5,))  # per-channel std used by `standardize`
    resize: str = "bilinear"  # resampling filter: bilinear, bicubic, nearest or lanczos
    bgr: bool = False  # reverse the channels after scaling (Keras 'caffe' models were trained on BGR)
    layout: str = "NCHW"  # what the model takes: NCHW (PyTorch) or NHWC (Keras, TensorFlow)

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"preprocessing size must be an integer >= 8, got {self.size!r}")
        if self.resize not in RESIZE_METHODS:
            raise ValueError(
                f"unknown resize method {self.resize!r}; valid methods: {', '.join(RESIZE_METHODS)}"
            )
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; valid layouts: {', '.join(LAYOUTS)}")
        if self.standardize and len(self.mean) not in (1, self.channels):
            raise ValueError(f"mean {self.mean} does not fit {self.channels} channel(s)")
        if self.standardize and len(self.std) not in (1, self.channels):
            raise ValueError(f"std {self.std} does not fit {self.channels} channel(s)")
        if self.standardize and any(s <= 0 for s in self.std):
            raise ValueError(f"std values must be positive, got {self.std}")

    @classmethod
    def from_scaling(cls, scaling: str, *, size: int, grayscale: bool, resize: str = "bilinear",
                     layout: str = "NCHW") -> PreprocessSpec:
        """The spec of a canonical scaling ([0,1], [-1,1], imagenet, raw, caffe; see SCALING_TEXT)."""
        if scaling not in _SCALING_VALUES:
            raise ValueError(f"unknown scaling {scaling!r}; valid scalings: {', '.join(_SCALING_VALUES)}")
        normalize, standardize, mean, std, bgr = _SCALING_VALUES[scaling]
        return cls(size=size, grayscale=grayscale, normalize=normalize, standardize=standardize, mean=mean,
                   std=std, resize=resize, bgr=bgr, layout=layout)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def mode(self) -> str:
        """The PIL mode images are converted to."""
        return "L" if self.grayscale else "RGB"

    @property
    def scaling(self) -> str | None:
        """The canonical name of this scaling, or None for a custom mean/std."""
        for name, (normalize, standardize, mean, std, bgr) in _SCALING_VALUES.items():
            if (self.normalize, self.standardize, self.bgr) == (normalize, standardize, bgr) and (
                    not standardize or (_close(self.mean, mean) and _close(self.std, std))):
                return name
        return None

    def describe(self) -> str:
        """One line for reports: '224 px RGB NCHW, scaling imagenet: ..., resize bilinear'."""
        scaling = self.scaling
        text = (f"{scaling}: {SCALING_TEXT[scaling]}" if scaling else
                f"custom: pixels{' / 255' if self.normalize else ''}, minus mean {list(self.mean)}, "
                f"divided by std {list(self.std)}{', RGB -> BGR' if self.bgr else ''}")
        return f"{self.size} px {self.mode} {self.layout}, scaling {text}, resize {self.resize}"

    def with_size(self, size: int | None) -> PreprocessSpec:
        return self if size is None else replace(self, size=int(size))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        """The spec of `to_dict` (checkpoints written before `bgr` and `layout` existed read as RGB NCHW)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown preprocessing keys {unknown}; valid keys: {', '.join(sorted(known))}"
            )
        values = dict(data)
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        return cls(**values)

    def to_tensor(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """Scale a uint8 batch (N, C, H, W) already at `size` and in `mode` to the model's input."""
        x = batch_uint8.float()
        return apply_spec(self, x, *_mean_std(self, x))


def _mean_std(spec: PreprocessSpec, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    as_tensor = lambda v: torch.tensor(v, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)  # noqa: E731
    return as_tensor(spec.mean), as_tensor(spec.std)


def apply_spec(spec: PreprocessSpec, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The one implementation of a spec's scaling, channel order and layout, on a float (N, C, H, W)
    batch of 0..255 pixels (`mean`/`std` as (1, C or 1, 1, 1) tensors). Traceable: the ONNX export
    runs it too."""
    if spec.normalize:
        x = x / 255.0
    if spec.standardize:
        x = (x - mean) / std
    if spec.bgr:
        x = x.flip(1)
    if spec.layout == "NHWC":
        x = x.permute(0, 2, 3, 1)
    return x


class Preprocess(nn.Module):
    """A spec as a module: 0..255 pixels (N, C, H, W, any float or uint8) in, the model's input out.
    What an exported model starts with, so that the file takes raw pixels."""

    def __init__(self, spec: PreprocessSpec):
        super().__init__()
        self.spec = spec
        mean, std = _mean_std(spec, torch.zeros(0))
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_spec(self.spec, x.float(), self.mean, self.std)


def imagenet_spec(size: int) -> PreprocessSpec:
    """RGB input with ImageNet mean/std: what torchvision's pretrained weights expect."""
    return PreprocessSpec.from_scaling("imagenet", size=size, grayscale=False)


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b))
