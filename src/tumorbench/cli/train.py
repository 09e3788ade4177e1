"""`tumorbench run` and `tumorbench study imbalance`: the commands that train (`tumorbench.api`'s `run`
and `study_imbalance`, which these call)."""

from __future__ import annotations

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import (
    dedup_option,
    executor_options,
    external_options,
    mlflow_option,
    training_options,
)


def _train_and_tell(train, *, summary: bool) -> None:
    """Run `train()` (an API call) and print what it made; a model that could not be trained still
    leaves the others' report, printed before the command fails."""
    from tumorbench.run import ModelsFailed

    failed = None
    try:
        result = train()
    except ModelsFailed as exc:
        failed, result = exc, exc.result
    if result.has_report:
        if summary:
            click.echo(result.summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        click.echo(f"report: {result.report_path}")
    if result.tracking:
        click.echo(f"mlflow: run {result.tracking['run_id']} in {result.tracking['uri']}")
    click.echo(f"results: {result.folder} ({result.seconds:.0f} s)")
    if failed is not None:
        raise click.ClickException(str(failed))


@main.command()
@training_options
@click.option("--models", help="Comma-separated model names (see `tumorbench models`).")
@click.option("--preset", metavar="NAME", help="A built-in recipe under the config file and options, e.g. "
              "best-cpu (hog_svm, chosen on validation; see the README).")
@click.option("--resume", is_flag=True, help="Finish an interrupted run in --out; complete models are kept.")
@click.option("--seeds", default=1, show_default=True, type=int, help="Train every model this many times "
              "(seeds seed..seed+N-1: initialisation and data order; same split): the report adds mean ± sd "
              "over seeds and how often each model beats another. Replicas: models/<model>.seed<k>/.")
@dedup_option
@external_options
@executor_options
@mlflow_option
@friendly_errors
def run(data, config_file, sets, mlflow_uri, external, external_class_map, **options) -> None:
    """Train the configured models, predict the test split, write the run folder and its report."""
    from tumorbench.api import run as run_api
    from tumorbench.api._config import external_entries

    external = external_entries(external, external_class_map)
    _train_and_tell(lambda: run_api(data, config=config_file, overrides=sets, mlflow=mlflow_uri, external=external,
                                    **options), summary=True)


@main.group()
def study() -> None:
    """Experiments over grids of trainings."""


@study.command("imbalance")
@training_options
@click.option("--models", default="model_1", show_default=True, help="Comma-separated model names.")
@click.option("--strategies", default=None, help="Comma-separated balancing strategies (default: all: "
              "none, oversample, undersample, class_weight, augment_balance, weighted_sampler, focal).")
@click.option("--seeds", default=2, show_default=True, type=int, help="Training seeds per cell.")
@executor_options
@mlflow_option
@friendly_errors
def study_imbalance(data, config_file, sets, mlflow_uri, **options) -> None:
    """Train models x balancing strategies x seeds into one run folder and report the comparison.

    Stopped and restarted with the same options and --out, it keeps the finished cells."""
    from tumorbench.api import study_imbalance as study_api

    _train_and_tell(lambda: study_api(data, config=config_file, overrides=sets, mlflow=mlflow_uri, **options),
                    summary=False)
