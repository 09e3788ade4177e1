"""Reading a run folder (written by `tumorbench run`) into ModelResults, tolerating absent extras.

What changes a number is strict (unreadable predictions, different test images across models: error).
What only decorates the report (history.json, info.json, validation predictions) is optional: when
absent the report leaves that part out and says so; when corrupt the error names the file and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tumorbench._io import read_json
from tumorbench.evaluation.model_result import ModelResult, evaluate_model
from tumorbench.predictions.io import check_same_images, read_predictions
from tumorbench.runfolder import (
    FAILED_FILE,
    HISTORY_FILE,
    INFO_FILE,
    TEST_PREDICTIONS,
    VAL_PREDICTIONS,
    RunFolder,
    read_run_config,
)


@dataclass
class RunContents:
    run_dir: Path
    models: list[ModelResult]
    notes: list[str] = field(default_factory=list)  # run-level: skipped models, missing parts
    skipped_files: pd.DataFrame | None = None  # skipped_files.csv (path, reason); None when absent


def model_order(run_dir: Path, folders: list[str], notes: list[str]) -> list[str]:
    """Model folders in the order of config.yaml's `models` list, unlisted folders after, sorted."""
    listed: list[str] = []
    config = read_run_config(run_dir, fix="restore the file or delete it (models are then shown in alphabetical "
                                          "order)") or {}
    for entry in config.get("models") or []:
        # A models list may hold names or mappings with a `name` key.
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str):
            listed.append(name)
    missing = [name for name in listed if name not in folders]
    if missing:
        notes.append(
            f"config.yaml lists models with no folder under models/: {', '.join(missing)} "
            "(not trained yet, or the run was interrupted before they started)."
        )
    ordered = [name for name in listed if name in folders]
    return ordered + sorted(name for name in folders if name not in ordered)


def _optional_json(path: Path, what: str, notes: list[str]):
    if not path.is_file():
        notes.append(f"No {path.name}: {what} omitted.")
        return None
    return read_json(path)  # corrupt JSON: ValueError naming the file and the fix


def read_skipped_files(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    except pd.errors.EmptyDataError:
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc}); delete it or re-run the data step") from None
    if "path" not in frame.columns:
        raise ValueError(f"{path}: expected columns path,reason, got {list(frame.columns)}; delete it or re-run")
    if "reason" not in frame.columns:
        frame["reason"] = ""
    return frame.loc[:, ["path", "reason"]] if len(frame) else None


def run_test_copies(run_dir: Path, test_images: list[str]
                    ) -> tuple[dict[str, str], dict[str, frozenset[str]]] | tuple[None, None]:
    """Test images of the run with an exact or near duplicate in its training or validation split, from
    the run's audit.json and split lists: `{image: 'exact' | 'near'}`, and `{image: labels of its
    copies}`; (None, None) without audit.json.

    The split lists are the ones the run used (after any dedup option); without them the audit's own
    train/val folders are the reference."""
    from tumorbench.audit import duplicate_groups, load_audit
    from tumorbench.data.split import read_split_list

    audit_path = RunFolder(run_dir).audit
    if not audit_path.is_file():
        return None, None
    audit = load_audit(audit_path)  # corrupt: ValueError naming the file and the fix
    lists = [RunFolder(run_dir).split_list(name) for name in ("train", "val")]
    if not all(p.is_file() for p in lists):
        wanted = set(test_images)
        found = [d for d in audit.get("test_duplicates", []) if d["path"] in wanted]
        labels = {d["path"]: frozenset(m["label"] for m in d["matches"] if m["split"] != "test" and m.get("label"))
                  for d in found}
        # As DuplicateGroups.copy_labels: an image whose copies carry no label is left out.
        return {d["path"]: d["kind"] for d in found}, {path: found for path, found in labels.items() if found}
    reference = [r for p in lists for r in read_split_list(p)]
    groups = duplicate_groups(audit)
    return groups.duplicated(test_images, [r.path for r in reference]), groups.copy_labels(test_images, reference)


def split_notes(run_dir: Path) -> list[str]:
    """Warnings about the run's split lists: a split without some class (its scores say nothing of it)."""
    from tumorbench.data.split import coverage_warnings, read_split_list

    lists = {label: RunFolder(run_dir).split_list(name)
             for label, name in (("training", "train"), ("validation", "val"), ("test", "test"))}
    present = {label: read_split_list(path) for label, path in lists.items() if path.is_file()}
    return [f"Warning: {w[0].upper()}{w[1:]}." for w in coverage_warnings(present)]


def load_run(run_dir: Path, *, settings=None) -> RunContents:
    """Every complete model of a run folder, evaluated; raises when none is complete."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    models_dir = RunFolder(run_dir).models_dir
    if not models_dir.is_dir():
        raise FileNotFoundError(
            f"{run_dir}: not a run folder (no models/ sub-folder); create one with `tumorbench run`, "
            "or evaluate predictions files directly with `tumorbench evaluate`"
        )
    notes: list[str] = split_notes(run_dir)
    folders = sorted(p.name for p in models_dir.iterdir() if p.is_dir())
    frames: dict[str, pd.DataFrame] = {}
    for name in model_order(run_dir, folders, notes):
        path = models_dir / name / TEST_PREDICTIONS
        failed = models_dir / name / FAILED_FILE
        if failed.is_file():
            failure = read_json(failed)
            notes.append(
                f"{name} FAILED and is left out of the report: training stopped at epoch "
                f"{failure.get('epoch', '?')}: {failure.get('reason', 'no reason recorded')}. "
                "`tumorbench run --resume` with the same --out retries it."
            )
            continue
        if not path.is_file():
            notes.append(
                f"models/{name} has no {TEST_PREDICTIONS} and is left out of the report (its training "
                f"did not finish). To include it, re-run `tumorbench run` for it; to silence this, "
                f"delete the folder models/{name}."
            )
            continue
        frames[name] = read_predictions(path)
    if not frames:
        raise FileNotFoundError(
            f"{models_dir}: no model folder has a {TEST_PREDICTIONS} ({len(folders)} folders: "
            f"{', '.join(folders) or 'none'}); finish the run with `tumorbench run` first"
        )
    check_same_images({str(models_dir / n / TEST_PREDICTIONS): f for n, f in frames.items()})

    first = next(iter(frames.values()))  # every model has the same test images (checked above)
    duplicated, copy_labels = run_test_copies(run_dir, first["image"].tolist())
    results = []
    validations: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        folder = models_dir / name
        model_notes: list[str] = []
        history = _optional_json(folder / HISTORY_FILE, "training curves", model_notes)
        info = _optional_json(folder / INFO_FILE, "model details (architecture, weights, training time)",
                              model_notes)
        val_path = folder / VAL_PREDICTIONS
        validation = read_predictions(val_path) if val_path.is_file() else None
        if validation is None:
            model_notes.append(f"No {VAL_PREDICTIONS}: validation metrics omitted.")
        else:
            validations[str(val_path)] = validation
        result = evaluate_model(name, frame, source=folder / TEST_PREDICTIONS, history=history,
                                history_source=str(folder / HISTORY_FILE), info=info,
                                validation_frame=validation, duplicated=duplicated, copy_labels=copy_labels,
                                settings=settings)
        result.notes = model_notes + result.notes
        results.append(result)
    # Ranking on validation predictions is only fair when every model saw the same validation images.
    check_same_images(validations)
    return RunContents(run_dir, results, notes, read_skipped_files(RunFolder(run_dir).skipped_files))
