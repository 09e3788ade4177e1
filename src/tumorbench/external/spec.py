"""The preprocessing spec of a model made elsewhere, and its resolution against what the model declares.

A published model carries its weights but rarely says how its pixels were prepared. The spec says it:
in a sidecar next to the model file (`model.onnx.tumorbench.yaml`), in a file given with `--spec`, or
in CLI options, each layer overriding the one before. What the model file itself declares (an ONNX or
Keras input shape such as `[N, 240, 240, 3]`) fills the gaps and is checked against the spec, so a
224 px spec for a 240 px model is an error that names the file and the fix, not a silent resize.

Over 400 lines but cohesive: the spec's keys, their parsing from every layer (sidecar, file, options),
and their checking against the model's declaration are one contract, read top to bottom.

Sidecar example::

    input_size: 240
    color: RGB            # L (one channel) or RGB
    scaling: "[0,1]"      # [0,1], [-1,1], imagenet, raw, caffe, or a Keras application such as xception
    layout: NHWC          # NHWC or NCHW; read from the model's input shape where it says
    resize: bicubic       # bilinear, bicubic, nearest, lanczos
    classes: [glioma, meningioma, notumor, pituitary]   # the model's output index -> class
    outputs: auto         # auto, probabilities or logits
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from tumorbench.classes import CLASS_NAMES, accepted_names, canonical_class
from tumorbench.data.preprocess import LAYOUTS, RESIZE_METHODS, PreprocessSpec

SIDECAR_SUFFIX = ".tumorbench.yaml"

COLORS = ("L", "RGB")
OUTPUTS = ("auto", "probabilities", "logits")

# Scaling of 0..255 pixels into the model's input range. The Keras application names map onto the
# mode their `preprocess_input` uses ("tf" = [-1,1], "torch" = ImageNet mean/std, "caffe" = BGR minus
# the ImageNet mean in 0..255; EfficientNet, ConvNeXt and MobileNetV3 scale inside the model: raw).
SCALINGS: dict[str, str] = {
    "[0,1]": "[0,1]", "0-1": "[0,1]", "unit": "[0,1]",
    "[-1,1]": "[-1,1]", "tf": "[-1,1]",
    "imagenet": "imagenet", "torch": "imagenet",
    "raw": "raw", "0-255": "raw", "none": "raw",
    "caffe": "caffe",
    "xception": "[-1,1]", "inception_v3": "[-1,1]", "inception_resnet_v2": "[-1,1]",
    "mobilenet": "[-1,1]", "mobilenet_v2": "[-1,1]", "resnet_v2": "[-1,1]", "nasnet": "[-1,1]",
    "densenet": "imagenet",
    "vgg16": "caffe", "vgg19": "caffe", "resnet50": "caffe", "resnet": "caffe",
    "efficientnet": "raw", "efficientnet_v2": "raw", "convnext": "raw", "mobilenet_v3": "raw",
}


class SpecError(ValueError):
    """A preprocessing spec that is invalid or contradicts its model."""


def _norm_scaling(value: str) -> str:
    return str(value).strip().lower().replace(" ", "")


@dataclass(frozen=True)
class ExternalSpec:
    """How a foreign model's input is prepared and how its outputs are read. None: not stated."""

    input_size: int | None = None  # side of the square input in pixels
    color: str | None = None  # "L" (one channel) or "RGB"
    scaling: str | None = None  # see SCALINGS: [0,1], [-1,1], imagenet, raw, caffe or a Keras app name
    layout: str | None = None  # "NHWC" (Keras, TensorFlow) or "NCHW" (PyTorch)
    resize: str | None = None  # resampling filter: bilinear, bicubic, nearest or lanczos
    classes: tuple[str, ...] | None = None  # class of each output index, in any accepted spelling
    outputs: str | None = None  # "auto" (detect logits), "probabilities" or "logits"
    name: str | None = None  # display name in predictions info and reports
    description: str | None = None  # provenance: where the model comes from

    def __post_init__(self) -> None:
        if self.input_size is not None:
            size = self.input_size
            if isinstance(size, bool) or not isinstance(size, int):
                try:
                    size = int(str(size))
                except ValueError:
                    raise SpecError(f"input_size must be an integer >= 8, got {self.input_size!r}") from None
                object.__setattr__(self, "input_size", size)
            if size < 8:
                raise SpecError(f"input_size must be an integer >= 8, got {size}")
        _check_choice("color", self.color, COLORS, upper=True, obj=self)
        _check_choice("layout", self.layout, LAYOUTS, upper=True, obj=self)
        _check_choice("resize", self.resize, RESIZE_METHODS, obj=self)
        _check_choice("outputs", self.outputs, OUTPUTS, obj=self)
        if self.scaling is not None and _norm_scaling(self.scaling) not in SCALINGS:
            raise SpecError(f"unknown scaling {self.scaling!r}; valid scalings: {', '.join(SCALINGS)}")
        if self.classes is not None:
            classes = self.classes
            if isinstance(classes, Mapping):
                classes = classes_from_index_map(classes, "classes")
            elif isinstance(classes, str):
                classes = [c for c in classes.replace(",", " ").split() if c]
            object.__setattr__(self, "classes", tuple(str(c) for c in classes))

    @property
    def scaling_mode(self) -> str | None:
        """The canonical scaling ([0,1], [-1,1], imagenet, raw, caffe) of `scaling`."""
        return None if self.scaling is None else SCALINGS[_norm_scaling(self.scaling)]

    def updated(self, other: ExternalSpec | None) -> ExternalSpec:
        """This spec with every value that `other` states put on top."""
        if other is None:
            return self
        return replace(self, **{f.name: getattr(other, f.name) for f in fields(self)
                                if getattr(other, f.name) is not None})

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        """The stated values only, in sidecar form."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if "classes" in out:
            out["classes"] = list(out["classes"])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "spec") -> ExternalSpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: a spec is a mapping of keys to values, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        aliases = {"size": "input_size", "image_size": "input_size", "colour": "color",
                   "color_mode": "color", "class_order": "classes", "class_names": "classes"}
        values: dict[str, Any] = {}
        unknown = []
        for key, value in data.items():
            key = aliases.get(str(key), str(key))
            if key not in known:
                unknown.append(key)
            else:
                values[key] = value
        if unknown:
            raise SpecError(f"{where}: unknown spec keys {sorted(unknown)}; valid keys: {', '.join(known)}")
        try:
            return cls(**values)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None


def _check_choice(key: str, value: Any, valid: Sequence[str], *, obj: ExternalSpec, upper: bool = False) -> None:
    if value is None:
        return
    text = str(value).strip()
    text = text.upper() if upper else text.lower()
    if text not in valid:
        raise SpecError(f"unknown {key} {value!r}; valid values: {', '.join(valid)}")
    object.__setattr__(obj, key, text)


def classes_from_index_map(mapping: Mapping[Any, Any], where: str) -> tuple[str, ...]:
    """{name: index} (Keras `class_indices`) or {index: name} -> names in index order."""
    items = list(mapping.items())
    try:
        if all(isinstance(v, int) or str(v).strip().isdigit() for _, v in items):
            by_index = {int(v): str(k) for k, v in items}
        else:
            by_index = {int(k): str(v) for k, v in items}
    except ValueError:
        raise SpecError(f"{where}: classes must be a list of names or a mapping name -> output index, "
                        f"got {dict(mapping)}") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise SpecError(f"{where}: class indices {sorted(by_index)} are not 0..{len(by_index) - 1}")
    return tuple(by_index[i] for i in range(len(by_index)))


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """`<model file>.tumorbench.yaml`, the spec tumorbench looks for beside a model file."""
    path = Path(model_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_spec_file(path: str | os.PathLike) -> ExternalSpec:
    """Read a YAML or JSON spec file; errors name the file and the valid keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: spec file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path}: not a readable spec file ({exc})") from None
    return ExternalSpec.from_dict(data or {}, where=str(path))


def write_spec_file(path: str | os.PathLike, spec: ExternalSpec, *, header: str = "") -> Path:
    from tumorbench._io import write_text

    lines = [f"# {line}" for line in header.splitlines()] if header else []
    lines.append("# tumorbench preprocessing spec: see `tumorbench predict --help`")
    body = yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True, width=100)
    return write_text(path, "\n".join(lines) + "\n" + body)


def class_column_order(classes: Sequence[str], *, where: str) -> list[int]:
    """For each class of CLASS_NAMES, the model's output index holding it.

    >>> class_column_order(["notumor", "glioma", "meningioma", "pituitary"], where="m")
    [1, 2, 0, 3]
    """
    mapped = [canonical_class(c) for c in classes]
    bad = [c for c, m in zip(classes, mapped) if m is None]
    if bad:
        raise SpecError(
            f"{where}: class names {bad} do not map onto tumorbench's classes {list(CLASS_NAMES)}; "
            f"accepted spellings: {', '.join(accepted_names())}"
        )
    if len(classes) != len(CLASS_NAMES) or len(set(mapped)) != len(CLASS_NAMES):
        raise SpecError(
            f"{where}: the class order {list(classes)} must name each of the {len(CLASS_NAMES)} classes "
            f"{list(CLASS_NAMES)} exactly once (it maps onto {mapped})"
        )
    return [mapped.index(c) for c in CLASS_NAMES]


@dataclass(frozen=True)
class Declared:
    """What a model file says about its input; None where it does not say."""

    input_size: int | None = None
    channels: int | None = None
    layout: str | None = None
    shape: tuple | None = None  # the raw input shape, for messages

    @classmethod
    def from_shape(cls, shape: Sequence[Any] | None, *, where: str) -> Declared:
        """Read (N, H, W, C) or (N, C, H, W) from an input shape whose unknown dims are None or names."""
        if shape is None:
            return cls()
        dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
        shown = tuple(d if d is not None else "?" for d in dims)
        if len(dims) != 4:
            raise SpecError(f"{where}: the model's input has shape {list(shown)}; tumorbench feeds image "
                            "batches of rank 4 (N, H, W, C) or (N, C, H, W)")
        first, _, last = dims[1], dims[2], dims[3]
        is_ch = lambda d: d in (1, 3)  # noqa: E731
        if is_ch(last) and not is_ch(first):
            layout, channels, hw = "NHWC", last, dims[1:3]
        elif is_ch(first) and not is_ch(last):
            layout, channels, hw = "NCHW", first, dims[2:4]
        else:
            return cls(shape=shown)
        if hw[0] is not None and hw[1] is not None and hw[0] != hw[1]:
            raise SpecError(f"{where}: the model's input is {hw[0]}x{hw[1]} px (shape {list(shown)}); "
                            "tumorbench feeds square images only")
        size = hw[0] if hw[0] is not None else hw[1]
        return cls(input_size=size, channels=channels, layout=layout, shape=shown)


@dataclass(frozen=True)
class ResolvedSpec:
    """Every value settled: the model's PreprocessSpec (what the predictor applies) and how its outputs
    are read (class order, probabilities or logits)."""

    preprocess: PreprocessSpec  # size, colour, resize, scaling, channel order, layout
    scaling: str  # as stated (e.g. "xception"), or the spec's canonical name, or "custom"
    classes: tuple[str, ...]
    outputs: str
    column_order: list[int] = field(default_factory=list)  # model output index of each CLASS_NAMES class
    notes: tuple[str, ...] = ()  # assumptions made while resolving, for the report

    input_size = property(lambda self: self.preprocess.size)
    color = property(lambda self: self.preprocess.mode)
    layout = property(lambda self: self.preprocess.layout)
    resize = property(lambda self: self.preprocess.resize)
    bgr = property(lambda self: self.preprocess.bgr)

    @property
    def scaling_mode(self) -> str:
        """The canonical scaling ([0,1], [-1,1], imagenet, raw, caffe), or "custom" (a mean/std of its own)."""
        return self.preprocess.scaling or "custom"

    def describe(self) -> str:
        text = self.preprocess.describe()
        if self.scaling not in (self.scaling_mode, "custom"):
            text = text.replace(f"scaling {self.scaling_mode}", f"scaling {self.scaling} ({self.scaling_mode})", 1)
        return f"{text}, classes {', '.join(self.classes)}"

    def to_spec(self) -> ExternalSpec:
        """The stated form (a sidecar); a custom mean/std has no name there and is left out."""
        return ExternalSpec(input_size=self.input_size, color=self.color,
                            scaling=None if self.scaling == "custom" else self.scaling,
                            layout=self.layout, resize=self.resize, classes=self.classes, outputs=self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_spec().to_dict(), "scaling_mode": self.scaling_mode,
                "preprocess": self.preprocess.to_dict(), "bgr": self.bgr}


def resolve_spec(spec: ExternalSpec, declared: Declared, *, where: str, hint: str,
                 default_layout: str | None = None, base: PreprocessSpec | None = None) -> ResolvedSpec:
    """Settle every value of `spec`, checking it against what the model declares.

    Layers, lowest first: `base` (the preprocessing the model is known to take, e.g. its registered
    architecture's; it keeps a custom mean/std), what the model file declares, and `spec` (the sidecar
    with the CLI options on top). A stated value that contradicts the declaration is an error. `where`
    names the model file in messages; `hint` says where the user states values (the sidecar path and
    the CLI options) so every message carries its fix.
    """
    notes: list[str] = []
    shape = f" (input shape {list(declared.shape)})" if declared.shape else ""

    size = spec.input_size
    if declared.input_size is not None:
        if size is not None and size != declared.input_size:
            raise SpecError(
                f"{where}: the spec says input_size {size} but the model's input is "
                f"{declared.input_size}x{declared.input_size}{shape}; set input_size: "
                f"{declared.input_size} ({hint}) or drop it to read it from the model"
            )
        size = declared.input_size
    if size is None and base is not None:
        size = base.size
    if size is None:
        raise SpecError(f"{where}: the input size is unknown: the model does not declare it{shape}; "
                        f"state it ({hint}, e.g. --input-size 224)")

    color = spec.color
    if declared.channels is not None:
        want = "L" if declared.channels == 1 else "RGB"
        if color is not None and color != want:
            raise SpecError(
                f"{where}: the model expects {declared.channels} channel(s){shape} but the spec says "
                f"color {color}; use color {want} ({hint})"
            )
        color = want
    if color is None and base is not None:
        color = base.mode
    if color is None:
        raise SpecError(f"{where}: the colour mode is unknown: the model does not declare its channels"
                        f"{shape}; state it ({hint}, e.g. --color RGB)")

    layout = spec.layout
    if declared.layout is not None:
        if layout is not None and layout != declared.layout:
            raise SpecError(
                f"{where}: the spec says layout {layout} but the model's input{shape} is "
                f"{declared.layout}; use layout {declared.layout} ({hint})"
            )
        layout = declared.layout
    if layout is None:
        layout = base.layout if base is not None else default_layout
    if layout is None:
        raise SpecError(f"{where}: the channel layout cannot be read from the model{shape}; state "
                        f"it ({hint}, e.g. --layout NCHW)")

    resize = spec.resize or (base.resize if base is not None else "bilinear")
    scaling = spec.scaling
    if scaling is None and base is not None:
        # The model's own scaling, a custom mean/std included.
        try:
            pre = replace(base, size=size, grayscale=color == "L", resize=resize, layout=layout)
        except ValueError as exc:
            raise SpecError(f"{where}: {exc}; state the scaling ({hint})") from None
        scaling = pre.scaling or "custom"
    else:
        if scaling is None:
            scaling = "[0,1]"
            notes.append("scaling not stated: assumed [0,1] (pixels / 255); state it if the model was "
                         "trained otherwise")
        mode = SCALINGS[_norm_scaling(scaling)]
        if color == "L" and mode in ("imagenet", "caffe"):
            raise SpecError(f"{where}: scaling {scaling} ({mode}) needs RGB input, but the colour mode is L; "
                            f"use color RGB or another scaling ({hint})")
        pre = PreprocessSpec.from_scaling(mode, size=size, grayscale=color == "L", resize=resize, layout=layout)

    classes = spec.classes
    if classes is None:
        classes = CLASS_NAMES
        notes.append(f"class order not stated: assumed tumorbench's ({', '.join(CLASS_NAMES)}); state "
                     "`classes` if the model's differs")
    column_order = class_column_order(classes, where=where)
    return ResolvedSpec(preprocess=pre, scaling=str(scaling).strip(), classes=tuple(classes),
                        outputs=spec.outputs or "auto", column_order=column_order, notes=tuple(notes))
