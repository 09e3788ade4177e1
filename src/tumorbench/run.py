"""The main job: dataset -> split -> train every configured model -> predictions -> run folder.

Layout of a run folder (the report reads only this):

    config.yaml            resolved config (every default and override applied)
    audit.json             dataset audit (duplicates, label conflicts, shortcut check): read before any score
    splits/{train,val,test}.csv   file lists (image, label)
    skipped_files.csv      unreadable images that were left out (path, reason)
    models/<name>/         checkpoint.pt, history.json, info.json, predictions_{val,test}.csv
"""

from __future__ import annotations

import datetime as _dt
import logging
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

import tumorbench
from tumorbench._io import atomic_write, read_json, write_json, write_text
from tumorbench.audit import AUDIT_FILE, audit_dataset, drop_duplicated_test, group_split, shortcut_sentence
from tumorbench.audit.dedup import clean_validation
from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS, class_index
from tumorbench.config import ResolvedModel, RunConfig, resolve_model
from tumorbench.data.folder import DatasetIndex, ImageRecord, scan_dataset
from tumorbench.data.cache import load_images_cached
from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.data.split import stratified_split, write_split_list
from tumorbench.device import seed_everything, select_device
from tumorbench.predictions.io import predictions_frame, read_predictions, write_predictions
from tumorbench.training.arrays import ImageArrays
from tumorbench.training.checkpoint import save_checkpoint
from tumorbench.training.compute import ComputePlan, plan_compute
from tumorbench.training.fit import fit, predict_proba

log = logging.getLogger(__name__)

MODEL_FILES = ("checkpoint.pt", "history.json", "info.json", "predictions_val.csv", "predictions_test.csv")


class RunFolderError(ValueError):
    """The run folder exists and cannot be used as asked."""


@dataclass
class SplitRecords:
    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord]


def default_run_dir() -> Path:
    return Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def prepare_run_dir(out: Path, *, resume: bool) -> None:
    """Refuse to mix two benchmarks in one folder; `resume` continues an interrupted run."""
    if out.exists() and any(out.iterdir()):
        if not (out / "config.yaml").is_file():
            raise RunFolderError(f"{out}: folder exists, is not empty and is not a tumorbench run; "
                                 "choose another --out")
        if not resume:
            raise RunFolderError(f"{out}: a run folder already exists here; pass --resume to finish it "
                                 "(finished models are kept) or choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def model_is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MODEL_FILES)


class ArrayCache:
    """Decoded images per preprocessing spec, shared by models with the same input.

    The first request for a spec decodes every record of the dataset (train, val and test), or maps
    them from the on-disk cache of an earlier run (`tumorbench.data.cache`), so later requests for any
    split are slices of memory.
    """

    def __init__(self, root: Path, records: list[ImageRecord]):
        self.root = root
        self.records = records
        self._arrays: dict[tuple, tuple] = {}
        self.bad: dict[str, str] = {}

    def get(self, records: list[ImageRecord], spec: PreprocessSpec) -> ImageArrays:
        key = (spec.size, spec.mode, spec.resize)
        if key not in self._arrays:
            paths = [r.path for r in self.records]
            x, ok, bad = load_images_cached(self.root, paths, spec)
            self.bad.update(dict(bad))
            self._arrays[key] = (x, {paths[i]: n for n, i in enumerate(ok)})
        x, position = self._arrays[key]
        keep = [r for r in records if r.path in position]
        rows = [position[r.path] for r in keep]
        return ImageArrays.from_numpy(x[rows], [r.label for r in keep], [r.path for r in keep])


def split_dataset(index: DatasetIndex, cache: ArrayCache, spec: PreprocessSpec, config: RunConfig,
                  audit: dict | None = None) -> SplitRecords:
    """Train/val/test records without unreadable files; val comes from Training, never from Testing.

    With `config.dedup` drop_test the test images duplicated in Training are left out (and validation
    images duplicated in training move to training, so the best epoch is not chosen on copies); with
    group_split every image is re-split by groups of duplicates (both need the dataset's `audit`)."""
    train_all = index.records("train")
    test = index.records("test")
    explicit_val = index.splits.get("val")
    cache.get([], spec)  # decodes everything once: unreadable files are known before the split
    good = lambda recs: [r for r in recs if r.path not in cache.bad]  # noqa: E731
    if not good(train_all):
        raise ValueError(f"{index.root}: the training split has no readable images")
    if not good(test):
        raise ValueError(f"{index.root}: the test split has no readable images")
    if config.dedup != "none" and audit is None:
        raise ValueError(f"dedup={config.dedup!r} needs the dataset audit; use dedup=none")
    if config.dedup == "group_split":
        return _group_split(good(train_all) + good(explicit_val or []), good(test), audit, config)
    if config.dedup == "drop_test":
        kept = drop_duplicated_test(good(test), audit)
        if not kept:
            raise ValueError(f"{index.root}: every test image has a duplicate in training, so dedup=drop_test "
                             "leaves none; use dedup=group_split to re-split the images by duplicate groups")
        log.info("dedup=drop_test: %d of %d test images with a duplicate in training left out",
                 len(good(test)) - len(kept), len(good(test)))
        test = kept
    if explicit_val:
        train, val = good(train_all), good(explicit_val)
    else:
        train, val = stratified_split(good(train_all), fraction=config.val_fraction, seed=config.seed)
    if config.dedup == "drop_test":
        train, clean_val, moved = clean_validation(train, val, audit)
        if not clean_val:
            raise ValueError(f"{index.root}: every validation image has a duplicate in training; use "
                             "dedup=group_split to re-split the images by duplicate groups")
        if moved:
            log.info("dedup=drop_test: %d validation image(s) with a duplicate in training moved to training",
                     moved)
        val = clean_val
    return SplitRecords(train, val, good(test))


def _group_split(development: list[ImageRecord], test: list[ImageRecord], audit: dict,
                 config: RunConfig) -> SplitRecords:
    """Pool every image and draw test (about its former share) and then val (val_fraction of the rest)
    by groups of exact and near duplicates, stratified by class: no group straddles two splits."""
    pool = development + test
    if any(r.label is None for r in pool):
        raise ValueError("dedup=group_split re-splits labelled images only; some split folder holds images "
                         "without class folders: use dedup=drop_test or none")
    rest, new_test = group_split(pool, audit, fraction=len(test) / len(pool), seed=config.seed)
    train, val = group_split(rest, audit, fraction=config.val_fraction, seed=config.seed)
    log.info("dedup=group_split: %d train, %d val, %d test images, re-split by duplicate groups (the test "
             "split is no longer the dataset's own)", len(train), len(val), len(new_test))
    return SplitRecords(train, val, new_test)


def audit_into(out: Path, data_root: Path) -> dict:
    """Audit the dataset (per-file features cached across runs) and save audit.json in the run folder."""
    audit = audit_dataset(data_root)
    write_json(out / AUDIT_FILE, audit)
    dup = audit["test_duplicates"]
    if dup:
        n_test = sum(audit["class_counts"].get("test", {}).values())
        log.warning("audit: %d of %d test images have an exact or near duplicate in training; the report "
                    "gives every score on the full and on the de-duplicated test split", len(dup), n_test)
    if audit["label_conflicts"]:
        log.warning("audit: %d label conflict(s): the same image under two classes", len(audit["label_conflicts"]))
    if audit["shortcut"].get("leak"):
        log.warning("audit: %s", shortcut_sentence(audit["shortcut"]))
    log.info("audit: %d images in %.1f s, details in %s", audit["n_images"], audit["timing_s"]["total"],
             out / AUDIT_FILE)
    return audit


def environment() -> dict:
    return {"tumorbench": tumorbench.__version__, "torch": str(torch.__version__), "python": platform.python_version(),
            "platform": platform.platform(), "cuda": torch.cuda.is_available()}


def train_and_predict(rm: ResolvedModel, splits: SplitRecords, cache: ArrayCache, folder: Path, *,
                      config: RunConfig, compute: ComputePlan, resolved: dict) -> dict:
    spec = rm.preprocess
    train, val, test = (cache.get(recs, spec) for recs in (splits.train, splits.val, splits.test))
    log.info("training %s (%s, %d px %s, balance %s) on %d images, validating on %d", rm.name,
             rm.architecture, spec.size, spec.mode, rm.balance, len(train), len(val))
    device = compute.device
    result = fit(rm, train, val, device=device, compute=compute)
    for note in result.notes:
        log.warning("%s: %s", rm.name, note)
    n_params = sum(p.numel() for p in result.model.parameters())
    info = {
        "name": rm.name, "architecture": rm.architecture, "balance": rm.balance,
        "weights": result.weights_source, "notes": result.notes, "preprocessing": spec.to_dict(),
        "epochs": len(result.history["epoch"]), "best_epoch": result.best_epoch,
        "train_seconds": result.train_seconds, "n_params": n_params, "device": str(device),
        "compute": compute.describe(),
        "class_weights": result.class_weights, "train_images": len(train), "seed": rm.seed,
        "train_class_counts": dict(zip(CLASS_NAMES, np.bincount(train.y.numpy(), minlength=len(CLASS_NAMES)).tolist())),
        "epoch_class_counts": dict(zip(CLASS_NAMES, result.history["class_counts"][0])),
    }
    save_checkpoint(folder / "checkpoint.pt", model=result.model, architecture=rm.architecture, spec=spec,
                    meta={"name": rm.name, "config": resolved, "model_config": rm.to_dict(),
                          "history": result.history, "best_epoch": result.best_epoch,
                          "weights": result.weights_source, "notes": result.notes})
    write_json(folder / "history.json", result.history)
    for split_name, arrays in (("val", val), ("test", test)):
        probs = predict_proba(result.model, arrays, spec=spec, device=device, compute=compute)
        frame = predictions_frame(arrays.paths, arrays.labels, probs)
        write_predictions(folder / f"predictions_{split_name}.csv", frame)
    write_json(folder / "info.json", info)  # written last: its presence marks the model as complete
    return info


def run_benchmark(config: RunConfig, *, data_root: Path, out: Path, resume: bool = False) -> Path:
    """Train and predict every model of `config` into the run folder `out`; returns `out`."""
    # The compute plan first: an impossible device or precision stops before a run folder is made.
    compute = plan_compute(select_device(config.device), config.precision, threads=config.threads)
    prepare_run_dir(out, resume=resume)
    seed_everything(config.seed, deterministic=config.deterministic)
    log.info("compute: %s", compute.describe())
    models = [resolve_model(m, config) for m in config.models]
    resolved = {**config.to_dict(), "data": str(data_root), "out": str(out),
                "resolved_models": [m.to_dict() for m in models], "environment": environment()}
    config_path = out / "config.yaml"
    if resume and config_path.is_file():
        previous = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        if (previous.get("resolved_models") != resolved["resolved_models"] or previous.get("seed") != config.seed
                or previous.get("dedup", "none") != config.dedup):
            raise RunFolderError(f"{out}: --resume with a different config than the run was started with; "
                                 "use the same options or another --out")
    write_text(config_path, yaml.safe_dump(resolved, sort_keys=False))

    index = scan_dataset(data_root)
    audit = audit_into(out, data_root)
    cache = ArrayCache(index.root, [r for split in ("train", "val", "test") for r in index.splits.get(split, [])])
    splits = split_dataset(index, cache, models[0].preprocess, config, audit)
    for name, recs in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        write_split_list(out / "splits" / f"{name}.csv", recs)
    skipped = pd.DataFrame(sorted(cache.bad.items()), columns=["path", "reason"])
    atomic_write(out / "skipped_files.csv", lambda p: skipped.to_csv(p, index=False))
    if len(skipped):
        log.warning("%d unreadable image(s) skipped; listed in %s", len(skipped), out / "skipped_files.csv")

    for rm in models:
        folder = out / "models" / rm.name
        if resume and model_is_complete(folder):
            log.info("%s: already complete in %s, kept", rm.name, folder)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        train_and_predict(rm, splits, cache, folder, config=config, compute=compute, resolved=resolved)
    return out


def summary_table(out: Path) -> pd.DataFrame:
    """Test accuracy per model, read back from the run folder."""
    rows = []
    for folder in sorted((out / "models").iterdir()):
        if not model_is_complete(folder):
            continue
        info = read_json(folder / "info.json")
        frame = read_predictions(folder / "predictions_test.csv")
        pred = frame[list(PROB_COLUMNS)].to_numpy().argmax(1)
        truth = frame["label"].map(class_index).to_numpy()
        rows.append({"model": info["name"], "test_accuracy": float((pred == truth).mean()),
                     "best_epoch": info["best_epoch"], "train_seconds": info["train_seconds"],
                     "weights": info["weights"]})
    return pd.DataFrame(rows)
