"""The layout of a run folder: the one place its file names are spelled.

    config.yaml            resolved config (every default and override applied)
    audit.json             dataset audit (duplicates, label conflicts, shortcut check)
    splits/{train,val,test}.csv   file lists (image, label)
    skipped_files.csv      unreadable images that were left out (path, reason)
    models/<name>/         checkpoint.pt, history.json, info.json, predictions_{val,test}.csv
                           (or failed.json: a model whose training diverged; --resume retries it)
"""

from __future__ import annotations

CONFIG_FILE = "config.yaml"
MODELS_DIR = "models"
CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
INFO_FILE = "info.json"  # written last: its presence (with the others) marks a model complete
VAL_PREDICTIONS = "predictions_val.csv"
TEST_PREDICTIONS = "predictions_test.csv"
FAILED_FILE = "failed.json"
MODEL_FILES = (CHECKPOINT_FILE, HISTORY_FILE, INFO_FILE, VAL_PREDICTIONS, TEST_PREDICTIONS)
