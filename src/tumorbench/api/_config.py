"""Turning the API's keyword arguments (the CLI's options) into the library's config objects.

Light to import (PyYAML and the config module only), because the CLI reads it for `--help`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("tumorbench")

ConfigSource = str | os.PathLike | Mapping | None
Overrides = Mapping[str, Any] | Sequence[str] | None


def names_list(value: str | Sequence[str] | None) -> list[str] | None:
    """`"a,b"` or `["a", "b"]` as a list of names (None stays None)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [v.strip() for v in items if v.strip()]


def assignments(overrides: Overrides) -> list[str]:
    """Overrides as `KEY=VALUE` strings (the CLI's `--set`): a mapping's values are written as YAML, so
    `{"train.epochs": 2, "weights": "none"}` means what `--set train.epochs=2 --set weights=none` means."""
    import yaml

    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            text = yaml.safe_dump(value, default_flow_style=True).strip()
            out.append(f"{key}={text.removesuffix('...').strip()}")
        return out
    return [str(o) for o in overrides]


def _config_layer(config: ConfigSource) -> tuple[str, dict] | None:
    """A config file (YAML) or an already parsed mapping, as a named layer."""
    from tumorbench.config import load_yaml

    if config is None:
        return None
    if isinstance(config, Mapping):
        return ("config", dict(config))
    return (str(config), load_yaml(config))


def cli_layer(**options) -> dict:
    """The options every training command shares (`epochs`, `models`, ...) as a config layer."""
    layer: dict = {}
    train = {k: options.pop(k) for k in ("epochs", "batch_size", "lr") if options.get(k) is not None}
    if train:
        layer["train"] = train
    models = names_list(options.pop("models", None))
    if models:
        layer["models"] = models
    layer.update({k: v for k, v in options.items() if v is not None})
    return layer


def resolve_config(data, config: ConfigSource, overrides: Overrides, options: dict, *, presets=("embedded",),
                   preset_name: str | None = None):
    """The dataset root and the RunConfig from presets (`presets`: embedded dataset only; `preset_name`: the
    user's recipe, e.g. best-cpu, on any data), config file or mapping, options and overrides, each layer
    above the one before; every value checked before any work starts."""
    from tumorbench.config import make_config, preset

    layers = [(f"preset {name}", preset(name)) for name in presets] if data is None else []
    if preset_name:
        layers.append((f"preset {preset_name}", preset(preset_name)))
    layer = _config_layer(config)
    if layer is not None:
        layers.append(layer)
    layers.append(("command line", cli_layer(**options)))
    run_config = make_config(*layers, sets=assignments(overrides))
    if data is None:
        from tumorbench.data.synthetic import ensure_default_dataset

        data_root = ensure_default_dataset()
        log.info("dataset: embedded synthetic dataset (not clinical data) at %s", data_root)
    else:
        data_root = Path(data)
    return data_root, run_config


def evaluation_settings_from(config: ConfigSource, overrides: Overrides):
    """The evaluation settings of `evaluate`: a config's `evaluation:` section, then `evaluation.KEY`
    overrides (nothing else: predictions files have no training to configure)."""
    from tumorbench.config import apply_set
    from tumorbench.evaluation.settings import evaluation_settings

    layer = _config_layer(config)
    data = {"evaluation": layer[1].get("evaluation") or {}} if layer else {}
    for assignment in assignments(overrides):
        if not assignment.startswith("evaluation."):
            raise ValueError(f"{assignment!r}: evaluate takes evaluation.<key>=VALUE only, e.g. "
                             "evaluation.bootstrap.resamples=5000")
        data = apply_set(data, assignment)
    try:
        return evaluation_settings(data.get("evaluation"))
    except ValueError as exc:
        raise ValueError(f"{layer[0]}: {exc}" if layer and layer[0] != "config" else str(exc)) from None


def external_entries(paths: Sequence[str | os.PathLike], class_maps: Sequence[str] = ()) -> list[str | dict] | None:
    """The `external:` entries of `--external PATH` (repeated) and `--external-class-map NAME:MAP`: NAME is
    the dataset's folder name (the only dataset's may be left out: `--external-class-map yes=tumor,no=no_tumor`)."""
    from tumorbench.classes import parse_class_map

    if not paths:
        if class_maps:
            raise ValueError("--external-class-map maps the classes of an --external dataset; give the dataset "
                             "with --external PATH")
        return None
    entries: list[str | dict] = [str(p) for p in paths]
    names = [Path(p).name for p in entries]
    for given in class_maps:
        name, sep, mapping = given.partition(":")
        if not sep:
            if len(entries) != 1:
                raise ValueError(f"--external-class-map {given!r}: with several --external datasets, say whose "
                                 f"classes it maps: NAME:{given} (NAME one of {', '.join(names)})")
            name, mapping = names[0], given
        if name not in names:
            raise ValueError(f"--external-class-map {given!r}: no --external dataset is called {name!r}; "
                             f"names: {', '.join(names)}")
        k = names.index(name)
        path = entries[k]["path"] if isinstance(entries[k], dict) else entries[k]
        entries[k] = {"path": path, "class_map": parse_class_map(mapping, where=f"--external-class-map {given!r}")}
    return entries


def spec_from_options(*, input_size=None, color=None, scaling=None, layout=None, classes=None, **_ignored):
    """The options layer of a foreign model's preprocessing spec (an ExternalSpec, or None when no
    option was given). An invalid value is a SpecError (a ValueError) listing the valid ones."""
    from tumorbench.external.spec import ExternalSpec

    spec = ExternalSpec(input_size=input_size, color=color, scaling=scaling, layout=layout, classes=classes)
    return None if spec.is_empty() else spec
