"""`tumorbench evaluate` and `tumorbench report`: reports from predictions files and run folders."""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import history_option, mlflow_option, plotly_option


def score_external_and_tell(run_dir: Path, data: Path, *, name, class_map, device="auto", plotly="inline"):
    """`evaluate RUN --data B` and `predict RUN --data B`: score the run's models on B, rebuild its report;
    returns the run's result (its `document` holds the rebuilt report's checks)."""
    from tumorbench.api import score_external
    from tumorbench.runfolder import external_name

    result = score_external(run_dir, data, name=name, class_map=class_map, device=device, plotly=plotly)
    click.echo(f"report: {result.report_path}")
    entry = result.external.get(external_name(name or Path(data).name)) or {}
    if entry.get("status") != "scored":
        raise click.ClickException(entry.get("reason") or f"{data}: not scored")
    return result


def exit_on_failed_checks(document: dict, level: str | None) -> None:
    """`--fail-on LEVEL`: exit 1, naming the checks at or beyond LEVEL, after the report was written."""
    if not level:
        return
    from tumorbench.evaluation.checks import failed_checks

    failed = failed_checks(document.get("checks", []), level)
    if failed:
        click.echo(f"checks at or beyond {level}: {'; '.join(failed)}", err=True)
        raise SystemExit(1)


external_data_options = [
    click.option("--data", type=click.Path(path_type=Path), help="With a run folder: a dataset every complete model "
                 "of the run predicts (its test split, or all images without split folders), scored into the run "
                 "folder as an external test set; the report is rebuilt with its section and the gap."),
    click.option("--name", "external_name", help="With --data: the external set's name (default: its folder's)."),
    click.option("--class-map", metavar="FOLDER=CLASS,...", help="With --data: its folders' classes, e.g. "
                 "yes=tumor,no=no_tumor."),
]


def with_external_data(fn):
    for option in reversed(external_data_options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("predictions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", help="Comma-separated model names, one per file (default: from the file names).")
@click.option("--out", type=click.Path(path_type=Path), help="Folder for the report (required with predictions "
              "files).")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="YAML file whose `evaluation:` section sets the bootstrap, cost matrix and calibration bins.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="An evaluation value, e.g. evaluation.bootstrap.resamples=5000 (repeatable).")
@click.option("--fail-on", "fail_on", type=click.Choice(["fail", "warn"]),
              help="Exit with status 1 when a check of the verdict table fails (or, with warn, fails or warns); "
                   "the report is written first. For CI pipelines.")
@history_option
@with_external_data
@plotly_option
@mlflow_option
@friendly_errors
def evaluate(predictions, names, out, config_file, sets, mlflow_uri, history, data, external_name, class_map,
             plotly, fail_on) -> None:
    """Metrics, figures and report from predictions files alone (models trained anywhere).

    `tumorbench evaluate RUN --data B`: score every complete model of the run folder RUN on dataset B, an
    external test set (predictions, copies of the run's images, report section and generalisation gap)."""
    from tumorbench.api import evaluate as evaluate_api

    if data is not None:
        if len(predictions) != 1 or names or out or config_file or sets or history or mlflow_uri:
            raise click.UsageError("with --data, give one run folder (and --name, --class-map, --plotly): "
                                   "tumorbench evaluate RUN --data DATASET")
        result = score_external_and_tell(predictions[0], data, name=external_name, class_map=class_map, plotly=plotly)
        exit_on_failed_checks(result.document, fail_on)
        return
    if out is None:
        raise click.UsageError("Missing option '--out': the folder for the report of these predictions files")
    if external_name or class_map:
        raise click.UsageError("--name and --class-map go with --data (tumorbench evaluate RUN --data DATASET)")

    result = evaluate_api(list(predictions), names=names, out=out, config=config_file, overrides=sets,
                          mlflow=mlflow_uri, history=list(history), plotly=plotly)
    click.echo(f"report: {result.report_path}")
    if result.tracking:
        click.echo(f"mlflow: run {result.tracking['run_id']}")
    exit_on_failed_checks(result.document, fail_on)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@plotly_option
@friendly_errors
def report(run_dir, plotly) -> None:
    """Rebuild the report of a run folder (no model, no GPU needed)."""
    from tumorbench.api import report as report_api

    click.echo(f"report: {report_api(run_dir, plotly=plotly).report_path}")
