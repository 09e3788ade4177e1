"""Built-in config presets: YAML files in this folder, read with `preset(name)` (also exported by
`tumorbench.config`); `tumorbench run --preset NAME` layers one under the user's config and options."""

from importlib import resources

import yaml

__all__ = ["list_presets", "preset"]


def list_presets() -> list[str]:
    """Names of the built-in config presets (`tumorbench run --preset NAME`)."""
    return sorted(p.name[:-len(".yaml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml"))


def preset(name: str) -> dict:
    """A built-in config preset; an unknown name is a ValueError listing the valid ones."""
    if name not in list_presets():
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(list_presets())}")
    return yaml.safe_load(resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")) or {}
