"""`tumorbench evaluate` and `tumorbench report`: reports from predictions files and run folders."""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import history_option, mlflow_option, plotly_option


@main.command()
@click.argument("predictions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", help="Comma-separated model names, one per file (default: from the file names).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the report.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="YAML file whose `evaluation:` section sets the bootstrap, cost matrix and calibration bins.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="An evaluation value, e.g. evaluation.bootstrap.resamples=5000 (repeatable).")
@click.option("--fail-on", "fail_on", type=click.Choice(["fail", "warn"]),
              help="Exit with status 1 when a check of the verdict table fails (or, with warn, fails or warns); "
                   "the report is written first. For CI pipelines.")
@history_option
@plotly_option
@mlflow_option
@friendly_errors
def evaluate(predictions, names, out, config_file, sets, mlflow_uri, history, plotly, fail_on) -> None:
    """Metrics, figures and report from predictions files alone (models trained anywhere)."""
    from tumorbench.api import evaluate as evaluate_api

    result = evaluate_api(list(predictions), names=names, out=out, config=config_file, overrides=sets,
                          mlflow=mlflow_uri, history=list(history), plotly=plotly)
    click.echo(f"report: {result.report_path}")
    if result.tracking:
        click.echo(f"mlflow: run {result.tracking['run_id']}")
    if fail_on:
        from tumorbench.evaluation.checks import failed_checks

        failed = failed_checks(result.document.get("checks", []), fail_on)
        if failed:
            click.echo(f"checks at or beyond {fail_on}: {'; '.join(failed)}", err=True)
            raise SystemExit(1)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@plotly_option
@friendly_errors
def report(run_dir, plotly) -> None:
    """Rebuild the report of a run folder (no model, no GPU needed)."""
    from tumorbench.api import report as report_api

    click.echo(f"report: {report_api(run_dir, plotly=plotly).report_path}")
