"""Predicting every model of a run folder on its external datasets, into the run folder.

For each external dataset: open and check it (`sets.open_external`), decode its images once per
preprocessing (unreadable files skipped and listed), let each complete model's checkpoint predict them
through the same Predictor as `tumorbench predict`, average the ensemble from its members' predictions
with its own weights, find the images that copy the run's training or validation images, and write
external/<name>/dataset.json last. A dataset that cannot be scored gets a dataset.json saying why (one
line naming the folder and the fix), and the others go on.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tumorbench._io import atomic_write, read_json, write_json
from tumorbench.crossdata.copies import reference_copies
from tumorbench.crossdata.sets import ExternalSet, ExternalUnusable, as_external_config, open_external
from tumorbench.runfolder import (
    CHECKPOINT_FILE,
    CROSS_AUDIT_FILE,
    EXTERNAL_COPIES,
    EXTERNAL_INFO,
    INFO_FILE,
    SKIPPED_FILE,
    RunFolder,
    external_name,
    external_predictions_file,
    model_has_results,
    model_is_complete,
    predictions_file,
    read_run_config,
)

log = logging.getLogger(__name__)

COPY_COLUMNS = ("image", "label", "kind", "match", "match_label")


def model_classes(run: RunFolder) -> tuple[str, ...]:
    """The class list of the run's models, from the probability columns of a test predictions file."""
    from tumorbench.predictions.io import frame_classes, read_predictions

    for folder in run.model_folders():
        if model_has_results(folder):
            return frame_classes(read_predictions(predictions_file(folder, "test")))
    raise FileNotFoundError(f"{run.models_dir}: no model has test predictions; finish the run with "
                            "`tumorbench run` first")


def reference_records(run: RunFolder) -> tuple[Path, list, dict | None]:
    """The run's dataset root, its training + validation images (the split lists it trained on) and its
    class map."""
    from tumorbench.data.split import read_split_list

    config = read_run_config(run.root, fix="the external datasets cannot be checked for copies of its "
                                           "images: restore config.yaml") or {}
    if not config.get("data"):
        raise FileNotFoundError(f"{run.config}: no `data` entry: the run's dataset is unknown; restore config.yaml")
    lists = [run.split_list(s) for s in ("train", "val")]
    return Path(config["data"]), [r for p in lists if p.is_file() for r in read_split_list(p)], config.get("class_map")


def score_externals(run_dir: str | Path, entries: Sequence, *, device: str = "cpu") -> list[dict]:
    """Predict every complete model of the run on each external dataset (`entries`: folders, mappings
    {path, name, class_map} or ExternalConfig); returns each dataset's dataset.json content."""
    run = RunFolder(Path(run_dir))
    classes = model_classes(run)
    taken: set[str] = set()
    written = []
    for entry in entries:
        config = as_external_config(entry)
        name = external_name(config.label, taken)
        taken.add(name)
        try:
            written.append(_score_one(run, open_external(config, name=name, model_classes=classes), device=device))
        except (ValueError, OSError) as exc:
            # One dataset that cannot be scored must not cost the run, nor the other datasets.
            reason = str(exc) if isinstance(exc, ExternalUnusable) else f"{config.path}: {exc}"
            log.error("external %s not scored: %s", config.label, reason)
            written.append(_record(run, name, {"name": name, "label": config.label, "root": str(config.path),
                                               "status": "unusable", "reason": reason}))
    return written


def _record(run: RunFolder, name: str, info: dict) -> dict:
    folder = run.external(name)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / EXTERNAL_INFO, info)
    return info


def _score_one(run: RunFolder, external: ExternalSet, *, device: str) -> dict:
    from tumorbench.data.arrays import ArrayCache
    from tumorbench.external import load_model_source
    from tumorbench.predictions.io import predictions_frame, write_predictions

    folder = run.external(external.name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXTERNAL_INFO).unlink(missing_ok=True)  # whole again only when every file below is
    cache = ArrayCache(external.root, external.records)
    scored = []
    for model_folder in run.model_folders():
        if not model_is_complete(model_folder):
            continue
        predictor = load_model_source(model_folder / CHECKPOINT_FILE, device=device)
        decoded = cache.decoded(predictor.spec)
        with warnings.catch_warnings():
            # A memory-mapped cache is read-only and nothing writes to it (as in data.arrays): batches are
            # scaled into new tensors.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
            probs = predictor.predict_proba(decoded.x)
        write_predictions(external_predictions_file(model_folder, external.name),
                          predictions_frame(decoded.paths, decoded.labels, probs, predictor.classes))
        scored.append(model_folder.name)
    scored += _ensemble(run, external.name, scored)
    skipped = pd.DataFrame(sorted(cache.bad.items()), columns=["path", "reason"])
    atomic_write(folder / SKIPPED_FILE, lambda p: skipped.to_csv(p, index=False))
    if cache.bad:
        log.warning("external %s: %d unreadable image(s) skipped; listed in %s", external.label, len(cache.bad),
                    folder / SKIPPED_FILE)
    reference_root, reference, class_map = reference_records(run)
    readable = cache.readable(external.records)
    copies, cross = reference_copies(reference_root, [r.path for r in reference], external.index,
                                     [r.path for r in readable], class_map=class_map)
    write_json(folder / CROSS_AUDIT_FILE, cross)
    table = pd.DataFrame([{"image": r.path, "label": r.label or "", **copies[r.path]} for r in readable
                          if r.path in copies], columns=list(COPY_COLUMNS))
    atomic_write(folder / EXTERNAL_COPIES, lambda p: table.to_csv(p, index=False))
    log.info("external %s: %d image(s) scored by %s; %d copy an image of the run's training or validation "
             "split", external.label, len(readable), ", ".join(scored) or "no model", len(table))
    return _record(run, external.name, {
        **external.identity(), "status": "scored" if scored else "unusable",
        **({} if scored else {"reason": f"{run.models_dir}: no complete model to predict with; finish the run "
                                        "with `tumorbench run --resume`"}),
        "models": scored, "skipped_images": len(cache.bad), "copies": len(table),
        "copies_reference": f"training + validation images of {reference_root} ({len(reference)})"})


def _ensemble(run: RunFolder, name: str, scored: list[str]) -> list[str]:
    """The ensemble's predictions of the external dataset: its members', with its validation weights."""
    from tumorbench.config import ENSEMBLE_NAME
    from tumorbench.predictions.ensemble import weighted_mean
    from tumorbench.predictions.io import read_predictions, write_predictions

    folder = run.model(ENSEMBLE_NAME)
    if not (folder / INFO_FILE).is_file():
        return []
    weights = read_json(folder / INFO_FILE).get("member_weights") or {}
    if not weights or not set(weights) <= set(scored):
        log.warning("external %s: %s left out: member(s) %s have no predictions of it", name, ENSEMBLE_NAME,
                    ", ".join(sorted(set(weights) - set(scored))) or "unknown")
        return []
    frames = {m: read_predictions(external_predictions_file(run.model(m), name)) for m in weights}
    write_predictions(external_predictions_file(folder, name), weighted_mean(frames, weights))
    return [ENSEMBLE_NAME]
