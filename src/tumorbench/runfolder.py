"""The layout of a run folder: the one place its file names are spelled.

    config.yaml            resolved config (every default and override applied)
    audit.json             dataset audit (duplicates, label conflicts, shortcut check)
    splits/{train,val,test}.csv   file lists (image, label)
    skipped_files.csv      unreadable images that were left out (path, reason)
    models/<name>/         checkpoint.pt, history.json, info.json, predictions_{val,test}.csv
                           (or failed.json: a model whose training diverged; --resume retries it)
                           predictions_test.gallery/: the report's pictures (index.json + JPEGs)
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the report reads this module and must not pay for importing PyTorch
    from tumorbench.training.cell import CellResult

CONFIG_FILE = "config.yaml"
MODELS_DIR = "models"
CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
INFO_FILE = "info.json"  # written last: its presence (with the others) marks a model complete
VAL_PREDICTIONS = "predictions_val.csv"
TEST_PREDICTIONS = "predictions_test.csv"
FAILED_FILE = "failed.json"
# A predictions file's picture gallery (`tumorbench.explain`): `<file stem>.gallery/index.json` + JPEGs,
# beside the file, in a run folder's model folder and wherever `tumorbench predict` writes.
GALLERY_SUFFIX = ".gallery"
GALLERY_INDEX = "index.json"
GALLERY_FORMAT = "tumorbench-gallery"
MODEL_FILES = (CHECKPOINT_FILE, HISTORY_FILE, INFO_FILE, VAL_PREDICTIONS, TEST_PREDICTIONS)


def write_model(folder: Path, result: CellResult) -> None:
    """Write a trained cell into its model folder; info.json last, so a folder is complete only when
    every file is whole. A failure record of an earlier attempt is removed."""
    from tumorbench._io import write_json
    from tumorbench.predictions.io import write_predictions
    from tumorbench.training.checkpoint import write_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    write_checkpoint(folder / CHECKPOINT_FILE, result.checkpoint)
    write_json(folder / HISTORY_FILE, result.history)
    write_predictions(folder / VAL_PREDICTIONS, result.predictions["val"])
    write_predictions(folder / TEST_PREDICTIONS, result.predictions["test"])
    write_json(folder / INFO_FILE, result.info)
    (folder / FAILED_FILE).unlink(missing_ok=True)


def gallery_dir(predictions: str | Path) -> Path:
    """The gallery folder of a predictions file: `predictions_test.csv` -> `predictions_test.gallery/`."""
    return Path(predictions).with_suffix(GALLERY_SUFFIX)


def model_is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MODEL_FILES)


def record_failure(folder: Path, name: str, *, epoch: int | None, reason: str, error: str = "diverged") -> dict:
    """Write `failed.json` (model, epoch, reason); files of an earlier attempt are removed so the folder
    can never look complete or mix two trainings."""
    from tumorbench._io import write_json

    failure = {"name": name, "epoch": epoch, "reason": reason, "error": error,
               "time": _dt.datetime.now().isoformat(timespec="seconds")}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in MODEL_FILES:
        (folder / stale).unlink(missing_ok=True)
    write_json(folder / FAILED_FILE, failure)
    return failure


def read_run_config(run_dir: Path, *, fix: str) -> dict | None:
    """The run's resolved config (config.yaml) as a mapping; None when the file is absent or empty (a
    folder claimed by a run that stopped before writing it). A damaged file is a ValueError naming the
    file and `fix`: what the caller does without it."""
    import yaml

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not valid YAML ({first}); {fix}") from None
    if config is None:
        return None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a tumorbench run config (a mapping of keys to values); {fix}")
    return config
