"""Built-in config presets (YAML files read with `tumorbench.config.preset(name)`); no Python API."""

__all__: list[str] = []
