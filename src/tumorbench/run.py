"""The main job: dataset -> audit -> split -> train every configured model -> predictions -> run folder.

This module is wiring: the dataset objects live in `tumorbench.data` (decoding, splits, duplicates),
training in `tumorbench.training`, the executors in `tumorbench.executors`, and the run folder's layout
in `tumorbench.runfolder` (the report reads only that folder).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

import tumorbench
from tumorbench._io import read_json, write_json, write_text
from tumorbench.audit import audit_dataset, duplicate_groups, shortcut_sentence
from tumorbench.classes import order_classes
from tumorbench.config import ResolvedModel, RunConfig, resolve_model
from tumorbench.data.appearance import DESCRIPTOR_SPEC, appearance_descriptors
from tumorbench.data.arrays import ArrayCache, images_key
from tumorbench.data.folder import DatasetIndex, scan_dataset
from tumorbench.data.split import (
    check_trainable,
    coverage_warnings,
    drawn_index,
    read_split_list,
    split_dataset,
)
from tumorbench.device import seed_everything, select_device
from tumorbench.executors.base import CellFailure, CellJob, LocalExecutor
from tumorbench.inference.compute import plan_compute
from tumorbench.predictions.io import frame_classes, prob_columns, read_predictions
from tumorbench.progress import JobProgress, active_job, planned_epochs
from tumorbench.runfolder import (
    FAILED_FILE,
    INFO_FILE,
    RunFolder,
    model_has_results,
    model_is_complete,
    predictions_file,
    read_run_config,
    record_failure,
    write_skipped_files,
    write_splits,
)

log = logging.getLogger(__name__)



class RunFolderError(ValueError):
    """The run folder exists and cannot be used as asked."""


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
        if not RunFolder(out).config.is_file():
            raise RunFolderError(f"{out}: folder exists, is not empty and is not a tumorbench run; "
                                 "choose another --out")
        if not resume:
            raise RunFolderError(f"{out}: a run folder already exists here; pass --resume to finish it "
                                 "(finished models are kept) or choose another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(RunFolder(out).config, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        raise RunFolderError(f"{out}: another run claimed this folder a moment ago; choose another --out") from None


def audit_into(out: Path, index: DatasetIndex, *, tap=None) -> dict:
    """Audit the dataset (per-file features cached across runs) and save audit.json in the run folder;
    `tap` receives the images the audit decodes (`ArrayCache.tap`)."""
    audit = audit_dataset(index, tap=tap)
    write_json(RunFolder(out).audit, audit)
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
             RunFolder(out).audit)
    return audit


def environment() -> dict:
    return {"tumorbench": tumorbench.__version__, "torch": str(torch.__version__), "python": platform.python_version(),
            "platform": platform.platform(), "cuda": torch.cuda.is_available()}


def _check_resumable(out: Path, previous: dict, resolved: dict, config: RunConfig) -> None:
    """--resume keeps the split (seed, dedup, validation share) and every complete model as they were;
    a model that failed or never finished may come back with new settings (a lower learning rate)."""
    changed = [key for key in ("seed", "dedup", "val_fraction", "val_groups", "test_fraction", "class_map")
               if previous.get(key, RunConfig().to_dict()[key]) != resolved[key]]
    # Settings added since a run was started read as their defaults (refit: off), not as a change.
    defaults = {f.name: f.default for f in dataclasses.fields(ResolvedModel) if f.default is not dataclasses.MISSING}
    before = {m["name"]: {**defaults, **m} for m in previous.get("resolved_models") or []}
    for model in resolved["resolved_models"]:
        folder = RunFolder(out).model(model["name"])
        if model_is_complete(folder) and before.get(model["name"]) != model:
            changed.append(f"the settings of complete model {model['name']}")
    if changed:
        raise RunFolderError(f"{out}: --resume with a different config than the run was started with "
                             f"({', '.join(changed)}); use the same options (only unfinished or failed models may "
                             "change) or another --out")


def _check_same_splits(run: RunFolder, splits, kept: list[str]) -> None:
    """A resumed run keeps its complete models only on the splits they were trained and scored on: the
    split is drawn again from the seed and the dataset's files (and, with val_groups=cluster, from
    scikit-learn's k-means and Pillow's decoding), so a changed dataset or library could move images."""
    for name in ("train", "val", "test"):
        path = run.split_list(name)
        if not path.is_file():
            continue
        before, now = {r.path for r in read_split_list(path)}, {r.path for r in getattr(splits, name)}
        if before != now:
            differ = sorted(before ^ now)
            raise RunFolderError(
                f"{path}: --resume would draw a different {name} split than the one {', '.join(kept)} trained on "
                f"({len(differ)} image(s) differ, e.g. {differ[0]}): the dataset's files changed, or with "
                "val_groups=cluster the installed scikit-learn or Pillow; start again with another --out")


def run_benchmark(config: RunConfig, *, data_root: Path, out: Path, resume: bool = False,
                  executor=None, tracker=None, unit: str = "model") -> Path:
    """Train and predict every model of `config` into the run folder `out`; returns `out`.

    `executor` (see `tumorbench.executors.make_executor`; default: local, one model after the other)
    trains the models; the run folder is written here only. `tracker` (a `tumorbench.tracking.MlflowTracker`)
    is started once the config is written and told of every model as it lands. Progress (`unit` k of n,
    epoch, the whole job's ETA) goes to the log. Raises ModelsFailed, after every other model finished,
    when some models could not be trained."""
    # The dataset is checked before the run folder exists: a bad layout leaves nothing to clean up.
    index = scan_dataset(data_root, class_map=config.class_map)
    check_trainable(index.records("all" if index.flat else "train"), where=str(index.root))
    if config.val_groups == "cluster" and index.splits.get("val"):
        raise ValueError(f"{index.root}: val_groups=cluster draws validation from the training split, and this "
                         "dataset has its own validation folder; set val_groups: none (CLI: --set val_groups=none)")
    # The compute plan too: an impossible device or precision stops before a run folder is made.
    compute = plan_compute(select_device(config.device), config.precision, threads=config.threads)
    models = [resolve_model(m, config) for m in config.models]
    for entry in config.external:  # said now, not after the training; scored (or reported unusable) at the end
        if not Path(entry.path).expanduser().is_dir():
            log.warning("external dataset %s: folder not found; the run goes on and its report says it could "
                        "not be scored (fix the --external path)", entry.path)
    prepare_run_dir(out, resume=resume)
    seed_everything(config.seed, deterministic=config.deterministic)
    log.info("compute: %s", compute.describe())
    resolved = {**config.to_dict(), "data": str(data_root), "out": str(out),
                "resolved_models": [m.to_dict() for m in models], "environment": environment()}
    run = RunFolder(out)
    try:
        previous = read_run_config(out, fix="--resume cannot tell how the run was started: choose another --out") \
            if resume else None
    except ValueError as exc:
        raise RunFolderError(str(exc)) from None
    if previous:  # empty: the folder was claimed but the run stopped before its config was written
        _check_resumable(out, previous, resolved, config)
    write_text(run.config, yaml.safe_dump(resolved, sort_keys=False))
    if tracker is not None:
        tracker.start()
        tracker.models_done()  # models kept from before a --resume

    # Complete models of a resumed run are kept: their inputs need not be decoded.
    pending, kept = [], []
    for rm in models:
        if resume and model_is_complete(run.model(rm.name)):
            log.info("%s: already complete in %s, kept", rm.name, run.model(rm.name))
            kept.append(rm.name)
        else:
            pending.append(rm)
    cache = ArrayCache(index.root, [r for records in index.splits.values() for r in records])
    # The first model's spec is decoded whatever is pending: unreadable files are known before the split.
    # val_groups=cluster needs small grayscale copies of every image for its descriptors: decoded in the same pass.
    extra_specs = [DESCRIPTOR_SPEC] if config.val_groups == "cluster" else []
    audit = audit_into(out, index, tap=cache.tap([models[0].preprocess, *(rm.preprocess for rm in pending),
                                                  *extra_specs]))
    cache.decoded(models[0].preprocess)

    def appearance(records):
        split = cache.decoded(DESCRIPTOR_SPEC).arrays([r.path for r in records])
        return appearance_descriptors(split.images().numpy())

    splits = split_dataset(index, cache.readable, val_fraction=config.val_fraction, seed=config.seed,
                           test_fraction=config.test_fraction, dedup=config.dedup, duplicates=duplicate_groups(audit),
                           val_groups=config.val_groups, appearance=appearance)
    if kept:
        _check_same_splits(run, splits, kept)
    write_splits(run, splits)
    if index.flat:
        # The first audit saw one split; the report's de-duplicated test needs the drawn ones (features cached).
        audit = audit_into(out, drawn_index(index, splits))
    check_trainable(splits.train, where=str(index.root))  # unreadable files or dedup may have emptied a class
    for warning in coverage_warnings({"training": splits.train, "validation": splits.val, "test": splits.test}):
        log.warning("%s (the report says so too)", warning)
    write_skipped_files(run, cache.bad)
    if cache.bad:
        log.warning("%d unreadable image(s) skipped; listed in %s", len(cache.bad), run.skipped_files)

    # The model's classes are the training split's: a class it never sees gets no output (it could only be
    # wrong), and one only in test is scored as not in the model's classes.
    classes = order_classes({r.label for r in splits.train if r.label is not None})
    log.info("classes: %s", ", ".join(classes))
    jobs = [CellJob(rm, images_key(rm.preprocess), [r.path for r in splits.train], [r.path for r in splits.val],
                    [r.path for r in splits.test], classes=classes) for rm in pending]
    # Decoded here, once per spec, whoever trains the models (a Ray task gets a reference).
    images = {job.images_key: cache.decoded(job.model.preprocess) for job in jobs}
    failures: dict[str, dict] = {}
    progress = JobProgress([(job.model.name, planned_epochs(job.model)) for job in jobs], unit=unit)
    with active_job(progress), executor or LocalExecutor() as ex:
        for job, outcome in ex.map(jobs, images, device=str(compute.device), resolved=resolved,
                                   precision=config.precision, threads=config.threads):
            folder = run.model(job.model.name)
            log.info("%s", progress.finish(job.model.name, completed=not isinstance(outcome, CellFailure)))
            if isinstance(outcome, CellFailure):
                # One model that cannot be trained must not cost the others: record it, go on.
                failures[job.model.name] = record_failure(folder, job.model.name, epoch=outcome.epoch,
                                                          reason=outcome.reason, error=outcome.error)
                log.error("%s failed at epoch %s: %s; the other models go on (details in %s)", job.model.name,
                          outcome.epoch, outcome.reason, folder / FAILED_FILE)
                continue
            write_model(folder, outcome)
            # The report's pictures need the model: made now, while it and its test images are at hand.
            from tumorbench.explain import gallery_for_run_model
            gallery_for_run_model(folder, images[job.images_key])
            if tracker is not None:
                tracker.model_done(folder)
    if config.ensemble:
        write_ensemble(run, config.ensemble, failed=sorted(failures))
    if config.external and len(failures) < len(models):
        from tumorbench.crossdata import score_externals

        score_externals(out, config.external, device=str(compute.device))
    if failures:
        raise ModelsFailed(out, failures, len(models))
    return out


def write_ensemble(run: RunFolder, members: list[str], *, failed: list[str] = ()) -> Path | None:
    """The `ensemble` model folder: its members' predictions averaged with weights chosen on validation
    (`tumorbench.predictions.ensemble`); predictions and info.json like any model, no checkpoint (it is
    its members' checkpoints). Left out, with a warning, when a member failed."""
    from tumorbench.config import ENSEMBLE_NAME
    from tumorbench.predictions.ensemble import ensemble_predictions
    from tumorbench.predictions.io import write_predictions

    missing = [m for m in members if m in failed or not model_is_complete(run.model(m))]
    if missing:
        log.warning("%s left out: member(s) %s did not finish", ENSEMBLE_NAME, ", ".join(missing))
        return None
    frames = {split: {m: read_predictions(predictions_file(run.model(m), split)) for m in members}
              for split in ("val", "test")}
    val, test, details = ensemble_predictions(frames["val"], frames["test"])
    infos = [read_json(run.model(m) / INFO_FILE) for m in members]
    folder = run.model(ENSEMBLE_NAME)
    folder.mkdir(parents=True, exist_ok=True)
    write_predictions(predictions_file(folder, "val"), val)
    write_predictions(predictions_file(folder, "test"), test)
    weights = ", ".join(f"{m} {w:g}" for m, w in details["member_weights"].items())
    write_json(folder / INFO_FILE, {
        "name": ENSEMBLE_NAME, "architecture": f"weighted mean of {', '.join(members)}", "balance": None,
        "weights": "none", "epochs": 0, "best_epoch": None, "seed": infos[0].get("seed"),
        # Training the ensemble is training its members; averaging takes milliseconds.
        "train_seconds": round(sum(float(i.get("train_seconds") or 0) for i in infos), 3),
        "n_params": sum(int(i.get("n_params") or 0) for i in infos),
        **({"fitted_values": sum(int(i.get("fitted_values") or 0) for i in infos)}
           if any(i.get("fitted_values") for i in infos) else {}),
        "notes": [f"weights chosen on validation (log-loss): {weights}; no checkpoint of its own: predict with "
                  "the members' checkpoints", *_refit_note(members, infos)], **details})
    log.info("%s: weights %s (validation log-loss %.4f)", ENSEMBLE_NAME, weights, details["val_log_loss"])
    return folder


def _refit_note(members: list[str], infos: list[dict]) -> list[str]:
    """The ensemble's word on its members' refits: weights come from the chosen models' validation
    predictions, test from whichever model each member kept."""
    refit = [m for m, i in zip(members, infos) if (i.get("refit") or {}).get("status") == "done"]
    if not refit:
        return []
    return [f"test averages {', '.join(refit)} refit on training + validation"
            + (f" and {', '.join(m for m in members if m not in refit)} as chosen" if len(refit) < len(members) else "")
            + "; the weights were chosen on the validation predictions made before any refit"]


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
    for folder in RunFolder(out).model_folders():
        if not model_has_results(folder):  # the ensemble too (no checkpoint of its own)
            continue
        info = read_json(folder / INFO_FILE)
        frame = read_predictions(predictions_file(folder, "test"))
        classes = np.asarray(frame_classes(frame))
        pred = classes[frame[prob_columns(frame)].to_numpy().argmax(1)]
        truth = frame["label"].to_numpy()
        rows.append({"model": info["name"], "test_accuracy": float((pred == truth).mean()),
                     "best_epoch": info["best_epoch"], "train_seconds": info["train_seconds"],
                     "weights": info["weights"]})
    return pd.DataFrame(rows)


def write_model(folder: Path, result) -> None:
    """Write a trained cell (a `tumorbench.training.cell.CellResult`) into its model folder; info.json
    last, so a folder is complete only when every file is whole. A failure record of an earlier attempt is removed."""
    from tumorbench._io import write_json
    from tumorbench.inference.checkpoint import write_checkpoint
    from tumorbench.predictions.io import write_predictions
    from tumorbench.runfolder import (
        CHECKPOINT_FILE,
        FAILED_FILE,
        HISTORY_FILE,
        INFO_FILE,
        TEST_PREDICTIONS,
        VAL_PREDICTIONS,
    )

    folder.mkdir(parents=True, exist_ok=True)
    write_checkpoint(folder / CHECKPOINT_FILE, result.checkpoint)
    write_json(folder / HISTORY_FILE, result.history)
    write_predictions(folder / VAL_PREDICTIONS, result.predictions["val"])
    write_predictions(folder / TEST_PREDICTIONS, result.predictions["test"])
    write_json(folder / INFO_FILE, result.info)
    (folder / FAILED_FILE).unlink(missing_ok=True)
