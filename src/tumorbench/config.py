"""Typed configuration: YAML supplies values, the CLI overrides them, the resolved result is saved
into the run folder and into every checkpoint.

Precedence, lowest first: field defaults here, the built-in preset (`configs/*.yaml`), the user's
`--config FILE`, then CLI options. Per-model values fall back to the run-wide `train` settings and
`image_size`, then to the model registry (input size, preprocessing, balancing).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tumorbench.data.balance import check_strategy
from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.models import get_model_entry
from tumorbench.training.compute import PRECISIONS

DEFAULT_MODELS = ("baseline", "model_1", "model_2", "model_3")
DEDUP_MODES = ("none", "drop_test", "group_split")


@dataclass
class TrainSettings:
    epochs: int = 6  # training epochs (transfer models: epochs of the frozen-base head phase)
    batch_size: int = 32  # samples per optimisation step
    lr: float = 1e-3  # Adam learning rate
    finetune_epochs: int = 3  # transfer models with pretrained weights: epochs fine-tuning the upper blocks
    finetune_lr_factor: float = 0.1  # fine-tuning learning rate = lr * this factor
    monitor: str = "val_accuracy"  # checkpoint kept: best val_accuracy (ties: lower val_loss) or best val_loss
    focal_gamma: float = 2.0  # gamma of the focal loss (balance: focal)
    focal_weighted: bool = False  # balance focal: also weight classes with the 'balanced' weights

    def __post_init__(self) -> None:
        if self.monitor not in ("val_accuracy", "val_loss"):
            raise ValueError(f"unknown monitor {self.monitor!r}; valid: val_accuracy, val_loss")
        for key in ("epochs", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if self.finetune_epochs < 0:
            raise ValueError(f"train.finetune_epochs must be >= 0, got {self.finetune_epochs}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be positive, got {self.lr}")


@dataclass
class ModelConfig:
    name: str  # folder and display name; also the registry name unless `architecture` is given
    architecture: str | None = None  # registry name of the network (default: `name`)
    balance: str | None = None  # class-balancing strategy (default: the registry entry's)
    image_size: int | None = None  # input side in px (default: run-wide image_size, then the registry's)
    epochs: int | None = None  # overrides train.epochs
    batch_size: int | None = None  # overrides train.batch_size
    lr: float | None = None  # overrides train.lr
    finetune_epochs: int | None = None  # overrides train.finetune_epochs
    weights: str | None = None  # transfer models: "imagenet", "none" or a local weights file
    seed: int | None = None  # training seed (initialisation, data order); default: the run's seed


@dataclass
class RunConfig:
    data: str | None = None  # dataset root; None: the embedded synthetic dataset
    out: str | None = None  # run folder; None: runs/<timestamp>
    seed: int = 0  # fixes the split, the initialisation and the data order
    val_fraction: float = 0.2  # share of the training split held out for validation (stratified)
    dedup: str = "none"  # audit duplicates: none (report both), drop_test, group_split (re-split by duplicate groups)
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    precision: str = "auto"  # auto (bf16 on CPUs with native BF16, AMP on CUDA, else fp32), fp32, bf16, fp16
    threads: int | None = None  # PyTorch CPU threads; None: one per CPU available to the process
    deterministic: bool = False  # ask PyTorch for deterministic kernels (slower on GPU)
    image_size: int | None = None  # input side for every model that does not set its own
    weights: str = "imagenet"  # transfer models: "imagenet" (download or torch cache), "none", or a file
    train: TrainSettings = field(default_factory=TrainSettings)
    models: list[ModelConfig] = field(default_factory=lambda: [ModelConfig(m) for m in DEFAULT_MODELS])

    def __post_init__(self) -> None:
        if self.dedup not in DEDUP_MODES:
            raise ValueError(f"unknown dedup {self.dedup!r}; valid: {', '.join(DEDUP_MODES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a whole number >= 1 (or null for one per CPU), got {self.threads!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ResolvedModel:
    """Everything needed to train one model, after all defaults and overrides are applied."""

    name: str
    architecture: str
    balance: str
    preprocess: PreprocessSpec
    transfer: bool
    weights: str
    epochs: int
    batch_size: int
    lr: float
    finetune_epochs: int
    finetune_lr_factor: float
    monitor: str
    focal_gamma: float
    focal_weighted: bool
    seed: int

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["preprocess"] = self.preprocess.to_dict()
        return out


def resolve_model(mc: ModelConfig, run: RunConfig) -> ResolvedModel:
    arch = mc.architecture or mc.name
    entry = get_model_entry(arch)
    size = mc.image_size or run.image_size
    spec = entry.preprocess.with_size(size)
    if spec.size < entry.min_size:
        raise ValueError(f"model {mc.name!r}: image size {spec.size} is below the {entry.min_size} px "
                         f"that {arch} accepts")
    t = run.train
    return ResolvedModel(
        name=mc.name, architecture=arch, balance=check_strategy(mc.balance or entry.balance),
        preprocess=spec, transfer=entry.transfer, weights=mc.weights or run.weights,
        epochs=int(mc.epochs or t.epochs), batch_size=int(mc.batch_size or t.batch_size),
        lr=float(mc.lr or t.lr),
        finetune_epochs=int(t.finetune_epochs if mc.finetune_epochs is None else mc.finetune_epochs),
        finetune_lr_factor=t.finetune_lr_factor, monitor=t.monitor, focal_gamma=t.focal_gamma,
        focal_weighted=bool(t.focal_weighted), seed=int(run.seed if mc.seed is None else mc.seed),
    )


# ---------------------------------------------------------------------------------------------
# Building a RunConfig from nested dicts (YAML) with early, explicit errors


def _build(cls, data: Any, where: str):
    if data is None:
        return cls() if cls is not ModelConfig else None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(known)}")
    kwargs = {}
    for key, value in data.items():
        if key == "train":
            value = _build(TrainSettings, value, f"{where}.train")
        elif key == "models":
            value = [_model_config(item, f"{where}.models[{i}]") for i, item in enumerate(value or [])]
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _model_config(item: Any, where: str) -> ModelConfig:
    if isinstance(item, str):
        return ModelConfig(item)
    if isinstance(item, dict) and "name" in item:
        return _build(ModelConfig, item, where)
    raise ValueError(f"{where}: a model is a registry name or a mapping with a 'name' key, got {item!r}")


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file is a mapping of keys to values")
    return data


def preset(name: str) -> dict:
    """A built-in config preset shipped in `tumorbench/configs/`."""
    text = resources.files("tumorbench.configs").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def _parse_scalar(text: str) -> Any:
    return yaml.safe_load(text) if text != "" else None


def apply_set(data: dict, assignment: str) -> dict:
    """Apply one `--set KEY=VALUE`: run keys (`seed=1`, `train.epochs=2`) or per-model keys
    (`model_1.image_size=128`, which adds the model's own entry)."""
    if "=" not in assignment:
        raise ValueError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.epochs=2 or model_1.image_size=128")
    key, raw = assignment.split("=", 1)
    value = _parse_scalar(raw)
    head, _, rest = key.strip().partition(".")
    run_keys = {f.name for f in fields(RunConfig)}
    if head in run_keys:
        if head == "train" and rest:
            return _merge(data, {"train": {rest: value}})
        if rest:
            raise ValueError(f"--set {assignment!r}: {head!r} has no sub-keys")
        return _merge(data, {head: value})
    if not rest:
        raise ValueError(f"--set {assignment!r}: unknown key {head!r}; valid keys: "
                         f"{', '.join(sorted(run_keys))}, train.<key>, or <model>.<key>")
    models = [m if isinstance(m, dict) else {"name": m} for m in data.get("models", list(DEFAULT_MODELS))]
    for m in models:
        if m["name"] == head:
            m[rest] = value
            break
    else:
        raise ValueError(f"--set {assignment!r}: no model named {head!r} in this run; models: "
                         f"{', '.join(m['name'] for m in models)}")
    return {**data, "models": models}


def make_config(*layers: dict, sets: list[str] = ()) -> RunConfig:
    """Merge dict layers (lowest precedence first), apply `--set`s, validate, return a RunConfig."""
    data: dict = {}
    for layer in layers:
        data = _merge(data, layer)
    for assignment in sets:
        data = apply_set(data, assignment)
    config = _build(RunConfig, data, "config")
    names = [m.name for m in config.models]
    if not names:
        raise ValueError("config: no models to train; list at least one under 'models'")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"config: model names must be unique, repeated: {duplicates}")
    for m in config.models:
        resolve_model(m, config)  # fail now, not after an hour of training the first model
    return config
