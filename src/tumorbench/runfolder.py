"""The layout of a run folder: the one place its file names are spelled, and their readers/writers.

    config.yaml            resolved config (every default and override applied)
    audit.json             dataset audit (duplicates, label conflicts, shortcut check)
    splits/{train,val,test}.csv   file lists (image, label)
    skipped_files.csv      unreadable images that were left out (path, reason)
    models/<name>/         checkpoint.pt, history.json, info.json, predictions_{val,test}.csv
                           (or failed.json: a model whose training diverged; --resume retries it)
                           predictions_test.gallery/: the report's pictures (index.json + JPEGs)
                           predictions_external_<dataset>.csv: its predictions of an external dataset
    external/<dataset>/    an external test set (`external:`, `--external`, `evaluate RUN --data`):
                           dataset.json (name, root, split, classes, images, status: scored, or why not),
                           copies.csv (its images that copy a training or validation image of the run),
                           cross_audit.json (every copy between the run's dataset and it, `audit --against`),
                           skipped_files.csv (its unreadable images)
    metrics.json, metrics.csv, report.html, report.md, figures/, calibrated/   the report (also in
                           `evaluate --out`)
    label_issues.csv       suspect labels, ranked (written by the report; docs/verdict.md)
    study_imbalance.{json,csv}   a study's summary (`tumorbench study imbalance`)
    mlflow.json, mlflow.db, mlartifacts/   the MLflow run ids and default store (`--mlflow`)

`RunFolder(path)` gives the typed paths; the module-level functions read and write the parts.
"""

from __future__ import annotations

import datetime as _dt
import os
import re as _re
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "config.yaml"
AUDIT_FILE = "audit.json"  # also the name in `tumorbench audit --out` folders
AUDIT_HTML = "audit.html"  # `tumorbench audit --out` folders: the standalone page and its Markdown
AUDIT_MD = "audit.md"
CROSS_AUDIT_FILE = "cross_audit.json"  # `tumorbench audit A --against B`: the copies of B's images in A
SPLITS_DIR = "splits"
SPLITS = ("train", "val", "test")
SKIPPED_FILE = "skipped_files.csv"
METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
REPORT_HTML = "report.html"
REPORT_MD = "report.md"
FIGURES_DIR = "figures"
LABEL_ISSUES_FILE = "label_issues.csv"  # suspect labels, ranked (tumorbench.evaluation.label_issues)
CALIBRATED_DIR = "calibrated"  # temperature-scaled predictions written by the report
MLFLOW_ARTIFACTS = "mlartifacts"  # the default MLflow store's artifacts
STUDY_SUMMARY = "study_imbalance.json"
STUDY_TABLE = "study_imbalance.csv"
MLFLOW_STATE = "mlflow.json"
MLFLOW_DB = "mlflow.db"
MODELS_DIR = "models"
CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
INFO_FILE = "info.json"  # written last: its presence (with the others) marks a model complete
VAL_PREDICTIONS = "predictions_val.csv"
TEST_PREDICTIONS = "predictions_test.csv"
FAILED_FILE = "failed.json"
EXTERNAL_DIR = "external"
EXTERNAL_INFO = "dataset.json"  # written last: its presence marks the external dataset's files whole
EXTERNAL_COPIES = "copies.csv"
EXTERNAL_PREDICTIONS = "predictions_external_{name}.csv"
# A predictions file's picture gallery (`tumorbench.explain`): `<file stem>.gallery/index.json` + JPEGs,
# beside the file, in a run folder's model folder and wherever `tumorbench predict` writes.
GALLERY_SUFFIX = ".gallery"
GALLERY_INDEX = "index.json"
GALLERY_FORMAT = "tumorbench-gallery"
MODEL_FILES = (CHECKPOINT_FILE, HISTORY_FILE, INFO_FILE, VAL_PREDICTIONS, TEST_PREDICTIONS)


@dataclass(frozen=True)
class RunFolder:
    """The typed paths of one run folder (nothing is read or created by making one)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / CONFIG_FILE)
    audit = property(lambda self: self.root / AUDIT_FILE)
    skipped_files = property(lambda self: self.root / SKIPPED_FILE)
    models_dir = property(lambda self: self.root / MODELS_DIR)
    metrics_json = property(lambda self: self.root / METRICS_JSON)
    metrics_csv = property(lambda self: self.root / METRICS_CSV)
    report_html = property(lambda self: self.root / REPORT_HTML)
    report_md = property(lambda self: self.root / REPORT_MD)
    figures = property(lambda self: self.root / FIGURES_DIR)
    calibrated = property(lambda self: self.root / CALIBRATED_DIR)
    label_issues = property(lambda self: self.root / LABEL_ISSUES_FILE)
    mlflow_artifacts = property(lambda self: self.root / MLFLOW_ARTIFACTS)
    study_summary = property(lambda self: self.root / STUDY_SUMMARY)
    study_table = property(lambda self: self.root / STUDY_TABLE)
    mlflow_state = property(lambda self: self.root / MLFLOW_STATE)
    mlflow_db = property(lambda self: self.root / MLFLOW_DB)

    def split_list(self, split: str) -> Path:
        """`splits/<split>.csv` (split: train, val or test)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self.root / SPLITS_DIR / f"{split}.csv"

    def model(self, name: str) -> Path:
        """The folder of model `name`."""
        return self.root / MODELS_DIR / name

    def external(self, name: str) -> Path:
        """The folder of external dataset `name` (its file-safe name, see `external_names`)."""
        return self.root / EXTERNAL_DIR / name

    def external_names(self) -> list[str]:
        """Every external dataset with a dataset.json, sorted by name."""
        folder = self.root / EXTERNAL_DIR
        return sorted(p.name for p in folder.iterdir() if (p / EXTERNAL_INFO).is_file()) if folder.is_dir() else []

    def model_folders(self) -> list[Path]:
        """Every model folder present, complete or not, sorted by name."""
        return sorted(p for p in self.models_dir.iterdir() if p.is_dir()) if self.models_dir.is_dir() else []

    def read_config(self, *, fix: str) -> dict | None:
        return read_run_config(self.root, fix=fix)


# File stems that name a split, not a model (`predictions_test.csv`): such a file is known by its folder.
GENERIC_STEMS = _re.compile(r"^(predictions?|preds?)([_-].*)?$|^(test|val|validation|train)$", _re.I)


def info_path(predictions: str | os.PathLike) -> Path:
    """Where a predictions file's model details live: `FILE.info.json` beside `FILE.csv` (what
    `tumorbench predict` writes), or the `info.json` of a run folder's model folder."""
    predictions = Path(predictions)
    beside = predictions.with_suffix(".info.json")
    if beside.is_file() or not GENERIC_STEMS.match(predictions.stem):
        return beside
    return predictions.parent / INFO_FILE


def predictions_file(model_folder: Path, split: str) -> Path:
    """A model folder's predictions of `split` (val or test)."""
    return Path(model_folder) / {"val": VAL_PREDICTIONS, "test": TEST_PREDICTIONS}[split]


def external_predictions_file(model_folder: Path, name: str) -> Path:
    """A model folder's predictions of external dataset `name`."""
    return Path(model_folder) / EXTERNAL_PREDICTIONS.format(name=name)


def external_name(label: str, taken: set[str] = frozenset()) -> str:
    """A file-safe name for an external dataset called `label`, not among `taken`."""
    import re

    base = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "external"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def write_splits(run: RunFolder, splits) -> None:
    """splits/{train,val,test}.csv of a `tumorbench.data.split.SplitRecords`."""
    from tumorbench.data.split import write_split_list

    for name in SPLITS:
        write_split_list(run.split_list(name), getattr(splits, name))


def write_skipped_files(run: RunFolder, bad: dict[str, str]) -> Path:
    """skipped_files.csv: the unreadable images left out (path, reason), sorted by path."""
    import pandas as pd

    from tumorbench._io import atomic_write

    skipped = pd.DataFrame(sorted(bad.items()), columns=["path", "reason"])
    return atomic_write(run.skipped_files, lambda p: skipped.to_csv(p, index=False))


def gallery_dir(predictions: str | Path) -> Path:
    """The gallery folder of a predictions file: `predictions_test.csv` -> `predictions_test.gallery/`."""
    return Path(predictions).with_suffix(GALLERY_SUFFIX)


def model_is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MODEL_FILES)


def model_has_results(folder: Path) -> bool:
    """A model the summaries can list: its info and test predictions are there. Every complete model
    has them; so does the ensemble, which has no checkpoint or history of its own."""
    return (folder / INFO_FILE).is_file() and (folder / TEST_PREDICTIONS).is_file()


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
