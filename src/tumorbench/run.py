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
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml

import tumorbench
from tumorbench._io import atomic_write, read_json, write_json, write_text
from tumorbench.audit import (
    AUDIT_FILE,
    audit_dataset,
    drop_duplicated_test,
    group_split,
    shortcut_sentence,
)
from tumorbench.audit.dedup import clean_validation
from tumorbench.classes import PROB_COLUMNS, class_index
from tumorbench.config import RunConfig, resolve_model
from tumorbench.data.cache import load_images_cached
from tumorbench.data.folder import DatasetIndex, ImageRecord, scan_dataset
from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.data.split import (
    check_trainable,
    coverage_warnings,
    stratified_split,
    write_split_list,
)
from tumorbench.device import seed_everything, select_device
from tumorbench.executors.base import CellFailure, CellJob, DecodedImages, LocalExecutor
from tumorbench.predictions.io import read_predictions
from tumorbench.progress import JobProgress, active_job, planned_epochs
from tumorbench.runfolder import (
    CONFIG_FILE,
    FAILED_FILE,
    MODELS_DIR,
    model_is_complete,
    read_run_config,
    record_failure,
    write_model,
)
from tumorbench.training.compute import plan_compute

log = logging.getLogger(__name__)



class RunFolderError(ValueError):
    """The run folder exists and cannot be used as asked."""


@dataclass
class SplitRecords:
    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord]


def default_run_dir() -> Path:
    """runs/<timestamp>, with a -2, -3... suffix when that folder is already there."""
    stamp = Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, k = stamp, 1
    while candidate.exists():
        k += 1
        candidate = stamp.with_name(f"{stamp.name}-{k}")
    return candidate


def prepare_run_dir(out: Path, *, resume: bool) -> None:
    """Refuse to mix two benchmarks in one folder; `resume` continues an interrupted run.

    A new run claims its folder with an exclusive create of config.yaml (filled in right after), so
    two runs started at the same moment with the same --out can never share it: one of them stops."""
    if out.exists() and any(out.iterdir()):
        if not (out / CONFIG_FILE).is_file():
            raise RunFolderError(f"{out}: folder exists, is not empty and is not a tumorbench run; "
                                 "choose another --out")
        if not resume:
            raise RunFolderError(f"{out}: a run folder already exists here; pass --resume to finish it "
                                 "(finished models are kept) or choose another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(out / CONFIG_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        raise RunFolderError(f"{out}: another run claimed this folder a moment ago; choose another --out") from None


def images_key(spec: PreprocessSpec) -> tuple:
    """What decoding depends on: models with the same size, colour mode and filter share their arrays."""
    return (spec.size, spec.mode, spec.resize)


class ArrayCache:
    """Decoded images per preprocessing spec, shared by models with the same input.

    The first request for a spec decodes every record of the dataset (train, val and test), or maps
    them from the on-disk cache of an earlier run (`tumorbench.data.cache`), so later requests for any
    split are slices of memory.
    """

    def __init__(self, root: Path, records: list[ImageRecord]):
        self.root = root
        self.records = records
        self._decoded: dict[tuple, DecodedImages] = {}
        self.bad: dict[str, str] = {}

    def decoded(self, spec: PreprocessSpec) -> DecodedImages:
        key = images_key(spec)
        if key not in self._decoded:
            paths = [r.path for r in self.records]
            x, ok, bad = load_images_cached(self.root, paths, spec)
            self.bad.update(dict(bad))
            self._decoded[key] = DecodedImages(x, [paths[i] for i in ok], [self.records[i].label for i in ok])
        return self._decoded[key]



def split_dataset(index: DatasetIndex, cache: ArrayCache, spec: PreprocessSpec, config: RunConfig,
                  audit: dict | None = None) -> SplitRecords:
    """Train/val/test records without unreadable files; val comes from Training, never from Testing.

    With `config.dedup` drop_test the test images duplicated in Training are left out (and validation
    images duplicated in training move to training, so the best epoch is not chosen on copies); with
    group_split every image is re-split by groups of duplicates (both need the dataset's `audit`)."""
    train_all = index.records("train")
    test = index.records("test")
    explicit_val = index.splits.get("val")
    cache.decoded(spec)  # decodes everything once: unreadable files are known before the split
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


def _check_resumable(out: Path, previous: dict, resolved: dict, config: RunConfig) -> None:
    """--resume keeps the split (seed, dedup, validation share) and every complete model as they were;
    a model that failed or never finished may come back with new settings (a lower learning rate)."""
    changed = [key for key in ("seed", "dedup", "val_fraction")
               if previous.get(key, RunConfig.__dataclass_fields__[key].default) != resolved[key]]
    before = {m["name"]: m for m in previous.get("resolved_models") or []}
    for model in resolved["resolved_models"]:
        folder = out / MODELS_DIR / model["name"]
        if model_is_complete(folder) and before.get(model["name"]) != model:
            changed.append(f"the settings of complete model {model['name']}")
    if changed:
        raise RunFolderError(f"{out}: --resume with a different config than the run was started with "
                             f"({', '.join(changed)}); use the same options (only unfinished or failed models may "
                             "change) or another --out")


def run_benchmark(config: RunConfig, *, data_root: Path, out: Path, resume: bool = False,
                  executor=None, tracker=None, unit: str = "model") -> Path:
    """Train and predict every model of `config` into the run folder `out`; returns `out`.

    `executor` (see `tumorbench.executors.make_executor`; default: local, one model after the other)
    trains the models; the run folder is written here only. `tracker` (a `tumorbench.tracking.MlflowTracker`)
    is started once the config is written and told of every model as it lands. Progress (`unit` k of n,
    epoch, the whole job's ETA) goes to the log. Raises ModelsFailed, after every other model finished,
    when some models could not be trained."""
    # The dataset is checked before the run folder exists: a bad layout leaves nothing to clean up.
    index = scan_dataset(data_root)
    check_trainable(index.records("train"), where=str(index.root))
    # The compute plan too: an impossible device or precision stops before a run folder is made.
    compute = plan_compute(select_device(config.device), config.precision, threads=config.threads)
    models = [resolve_model(m, config) for m in config.models]
    prepare_run_dir(out, resume=resume)
    seed_everything(config.seed, deterministic=config.deterministic)
    log.info("compute: %s", compute.describe())
    resolved = {**config.to_dict(), "data": str(data_root), "out": str(out),
                "resolved_models": [m.to_dict() for m in models], "environment": environment()}
    config_path = out / CONFIG_FILE
    try:
        previous = read_run_config(out, fix="--resume cannot tell how the run was started: choose another --out") \
            if resume else None
    except ValueError as exc:
        raise RunFolderError(str(exc)) from None
    if previous:  # empty: the folder was claimed but the run stopped before its config was written
        _check_resumable(out, previous, resolved, config)
    write_text(config_path, yaml.safe_dump(resolved, sort_keys=False))
    if tracker is not None:
        tracker.start()
        tracker.models_done()  # models kept from before a --resume

    audit = audit_into(out, data_root)
    cache = ArrayCache(index.root, [r for split in ("train", "val", "test") for r in index.splits.get(split, [])])
    splits = split_dataset(index, cache, models[0].preprocess, config, audit)
    for name, recs in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        write_split_list(out / "splits" / f"{name}.csv", recs)
    check_trainable(splits.train, where=str(index.root))  # unreadable files or dedup may have emptied a class
    for warning in coverage_warnings({"training": splits.train, "validation": splits.val, "test": splits.test}):
        log.warning("%s (the report says so too)", warning)
    skipped = pd.DataFrame(sorted(cache.bad.items()), columns=["path", "reason"])
    atomic_write(out / "skipped_files.csv", lambda p: skipped.to_csv(p, index=False))
    if len(skipped):
        log.warning("%d unreadable image(s) skipped; listed in %s", len(skipped), out / "skipped_files.csv")

    jobs = []
    for rm in models:
        if resume and model_is_complete(out / MODELS_DIR / rm.name):
            log.info("%s: already complete in %s, kept", rm.name, out / MODELS_DIR / rm.name)
            continue
        cache.decoded(rm.preprocess)  # decoded here, once per spec, whoever trains the model
        jobs.append(CellJob(rm, images_key(rm.preprocess), [r.path for r in splits.train],
                            [r.path for r in splits.val], [r.path for r in splits.test]))
    images = {images_key(rm.preprocess): cache.decoded(rm.preprocess) for rm in models}
    failures: dict[str, dict] = {}
    progress = JobProgress([(job.model.name, planned_epochs(job.model)) for job in jobs], unit=unit)
    with active_job(progress), executor or LocalExecutor() as ex:
        for job, outcome in ex.map(jobs, images, device=str(compute.device), resolved=resolved,
                                   precision=config.precision, threads=config.threads):
            folder = out / MODELS_DIR / job.model.name
            log.info("%s", progress.finish(job.model.name, completed=not isinstance(outcome, CellFailure)))
            if isinstance(outcome, CellFailure):
                # One model that cannot be trained must not cost the others: record it, go on.
                failures[job.model.name] = record_failure(folder, job.model.name, epoch=outcome.epoch,
                                                          reason=outcome.reason, error=outcome.error)
                log.error("%s failed at epoch %s: %s; the other models go on (details in %s)", job.model.name,
                          outcome.epoch, outcome.reason, folder / FAILED_FILE)
                continue
            write_model(folder, outcome)
            if tracker is not None:
                tracker.model_done(folder)
    if failures:
        raise ModelsFailed(out, failures, len(models))
    return out


class ModelsFailed(RuntimeError):
    """Some models could not be trained; the others finished and the run folder is usable."""

    def __init__(self, out: Path, failures: dict[str, dict], n_models: int):
        self.out, self.failures, self.n_models = out, failures, n_models
        listed = "; ".join(f"{name}: " + (f"epoch {f['epoch']}: " if f.get("epoch") else "") + f["reason"]
                           for name, f in failures.items())
        super().__init__(f"{len(failures)} of {n_models} model(s) failed ({listed}); the others are complete. "
                         f"Fix the setting and finish with `tumorbench run --resume --out {out}` (failed models "
                         "are retried, complete ones kept)")


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
