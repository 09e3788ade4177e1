"""A registry of named models, declared once with `@register_model`.

Each entry carries the preprocessing its network expects (input size, colour mode, scaling), so the
preprocessing follows the model and not the script that happens to run it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from tumorbench.data.preprocess import PreprocessSpec

Builder = Callable[[PreprocessSpec, int], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Builder  # (preprocess spec, number of classes) -> network returning logits
    preprocess: PreprocessSpec  # default input spec; `size` may be overridden per run
    description: str
    balance: str = "none"  # balancing strategy the entry trains with unless the config says otherwise
    transfer: bool = False  # has ImageNet weights and trains head first, then fine-tunes upper blocks
    min_size: int = 16  # smallest input side the network accepts
    fitted: bool = False  # fitted in closed form on the training split (a `FittedModel`), not trained by SGD


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    *, preprocess: PreprocessSpec, description: str, balance: str = "none",
    transfer: bool = False, min_size: int = 16, fitted: bool = False, name: str | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator: register a builder under its function name (or `name`)."""

    def wrap(build: Builder) -> Builder:
        key = name or build.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        _REGISTRY[key] = ModelEntry(key, build, preprocess, description, balance, transfer, min_size, fitted)
        return build

    return wrap


def list_models() -> list[str]:
    return list(_REGISTRY)


def get_model_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(_REGISTRY)}") from None


def create_model(name: str, spec: PreprocessSpec | None = None, *, num_classes: int | None = None) -> nn.Module:
    """Build a registered network (random initialisation) for `spec` (the entry's default if None)."""
    from tumorbench.classes import CLASS_NAMES

    entry = get_model_entry(name)
    spec = spec or entry.preprocess
    if spec.size < entry.min_size:
        raise ValueError(f"model {name!r} needs inputs of at least {entry.min_size} px, got {spec.size}")
    return entry.build(spec, num_classes or len(CLASS_NAMES))
