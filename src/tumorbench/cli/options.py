"""Options shared by several commands (their meaning, as keyword arguments, is `tumorbench.api`'s).

Nothing heavier than click (and numpy, through the choices) at import time: `tumorbench --help` must not
wait for PyTorch. Choices are read from the modules that define them; values are checked by the config
and spec layers, which list the valid ones.
"""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.api._config import spec_from_options  # noqa: F401  (the spec options' meaning lives there)
from tumorbench.config import DEDUP_MODES, PRECISIONS
from tumorbench.executors import EXECUTORS

class_map_option = click.option(
    "--class-map", metavar="FOLDER=CLASS,...", help="Rename class folders, e.g. yes=tumor,no=no_tumor (config: "
    "class_map). Other folders keep their canonical name (glioma_tumor -> glioma) or their own.")


def training_options(fn):
    """Options shared by every command that trains: data, config, run folder and overrides."""
    options = [
        click.option("--data", type=click.Path(path_type=Path), help="Dataset root "
                     "(<root>/<split>/<class>/<image>, or <root>/<class>/<image>: a test split is drawn). "
                     "Default: the embedded synthetic dataset."),
        class_map_option,
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML config file."),
        click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: runs/<timestamp>)."),
        click.option("--epochs", type=int, help="Epochs for every model."),
        click.option("--batch-size", type=int, help="Batch size for every model."),
        click.option("--lr", type=float, help="Adam learning rate for every model."),
        click.option("--image-size", type=int, help="Input side in px for every model (e.g. 128 on a CPU)."),
        click.option("--seed", type=int, help="Seed for the split, initialisation and data order."),
        click.option("--device", help="auto (default), cpu, cuda or cuda:N."),
        click.option("--precision", type=click.Choice(PRECISIONS), help="auto (default: bf16 on CPUs with native "
                     "BF16, mixed precision on CUDA, else fp32), fp32, bf16 or fp16 (CUDA)."),
        click.option("--deterministic", is_flag=True, default=None, help="Ask PyTorch for deterministic kernels."),
        click.option("--weights", help="Transfer models: imagenet (default), none, or a local weights file."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Any config value, e.g. train.finetune_epochs=2 or model_1.image_size=128 (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def executor_options(fn):
    """Who trains the cells: this process, or Ray tasks (local instance or an existing cluster)."""
    options = [
        click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="local: one model after the other in this process; ray: each model (cell) a Ray task "
                          "(pip install 'tumorbench[ray]')."),
        click.option("--ray-address", metavar="ADDRESS", help="Join this Ray cluster (e.g. ray://head:10001 or "
                     "auto) instead of starting a local Ray instance for the run."),
        click.option("--cpus-per-task", type=click.IntRange(min=1), help="CPU threads each Ray task reserves and "
                     "uses (default: 2, or fewer on a smaller machine)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


mlflow_option = click.option(
    "--mlflow", "mlflow_uri", is_flag=False, flag_value="default", default=None, metavar="[URI]",
    help="Track in MLflow: one run for the benchmark, a nested run per model. Without a value, a SQLite store "
         "in the output folder (mlflow.db); or a tracking URI such as http://host:5000 "
         "(pip install 'tumorbench[mlflow]').")


# Choices spelled here, not imported from the report: `tumorbench --help` must not import plotly.
plotly_option = click.option(
    "--plotly", type=click.Choice(["inline", "cdn"]), default="inline", show_default=True,
    help="How report.html gets plotly.js: inline (one self-contained file that works offline, ~5 MB larger) "
         "or cdn (a small file that loads plotly.js from cdn.plot.ly when opened online).")

history_option = click.option(
    "--history", multiple=True, metavar="NAME=FILE",
    help="Training history of model NAME, trained elsewhere, drawn as its training curves (repeatable): a Keras "
         "History.history JSON, a models_history.json mapping model names to such histories, or a Keras "
         "CSVLogger CSV.")


dedup_option = click.option(
    "--dedup", type=click.Choice(DEDUP_MODES), help="Duplicates the audit finds: none (default: report full and "
    "de-duplicated test metrics), drop_test (leave duplicated test images out), clean_val (move validation "
    "images with a copy in training to training; the test split stays whole) or group_split (re-split every "
    "image by duplicate groups).")


def external_options(fn):
    """Second datasets every model is scored on: `--external PATH` (repeatable) and their class maps."""
    options = [
        click.option("--external", multiple=True, type=click.Path(path_type=Path), metavar="PATH",
                     help="An external test set (repeatable): after training, every model predicts its test split "
                          "(all its images when it has no split folders); the report adds its section and the "
                          "generalisation gap. Replaces the config's external: list."),
        click.option("--external-class-map", multiple=True, metavar="[NAME:]FOLDER=CLASS,...",
                     help="Class map of the --external dataset whose folder is NAME (NAME may be left out with "
                          "one external), e.g. yes-no:yes=tumor,no=no_tumor (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


trust_pickle_option = click.option(
    "--trust-pickle", is_flag=True,
    help="DANGEROUS: also read PyTorch files that hold arbitrary pickled Python objects. Unpickling can run "
         "any code the file's author wrote; use only for files whose origin you trust. Without it, such "
         "files are refused and only tensors and plain data are read.")

def model_spec_options(fn):
    """The options that describe a foreign model's preprocessing, for `predict` (and `run`-like commands)."""
    options = [
        click.option("--spec", "spec_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="Preprocessing spec (YAML/JSON) of a foreign model; default: <model file>"
                          ".tumorbench.yaml when present."),
        click.option("--arch", help="Registered architecture of a PyTorch state dict (see `tumorbench models`)."),
        click.option("--input-size", type=int, help="Input side in px (read from ONNX/Keras models when they say)."),
        click.option("--color", metavar="L|RGB", help="Colour mode the model takes: L (one channel) or RGB."),
        click.option("--scaling", metavar="SCALING",
                     help="Pixel scaling: [0,1], [-1,1], imagenet, raw (0-255), caffe, or a Keras application "
                          "name (xception, resnet50, ...)."),
        click.option("--layout", metavar="NHWC|NCHW",
                     help="Channel layout (read from the model's input shape when it says)."),
        click.option("--classes", metavar="A,B,C,D",
                     help="The model's class of each output index, e.g. glioma,meningioma,notumor,pituitary."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn
