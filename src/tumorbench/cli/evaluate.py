"""`tumorbench evaluate` and `tumorbench report`: reports from predictions files and run folders."""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import mlflow_option


@main.command()
@click.argument("predictions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", help="Comma-separated model names, one per file (default: from the file names).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the report.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="YAML file whose `evaluation:` section sets the bootstrap, cost matrix and calibration bins.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="An evaluation value, e.g. evaluation.bootstrap.resamples=5000 (repeatable).")
@mlflow_option
@friendly_errors
def evaluate(predictions, names, out, config_file, sets, mlflow_uri) -> None:
    """Metrics, figures and report from predictions files alone (models trained anywhere)."""
    from tumorbench._io import read_json
    from tumorbench.config import apply_set, load_yaml
    from tumorbench.evaluation.settings import evaluation_settings
    from tumorbench.report import evaluate_files

    data = {"evaluation": load_yaml(config_file).get("evaluation") or {}} if config_file else {}
    for assignment in sets:
        if not assignment.startswith("evaluation."):
            raise click.BadParameter(f"{assignment!r}: evaluate takes evaluation.<key>=VALUE only, e.g. "
                                     "evaluation.bootstrap.resamples=5000", param_hint="--set")
        data = apply_set(data, assignment)
    try:
        settings = evaluation_settings(data.get("evaluation"))
    except ValueError as exc:
        raise ValueError(f"{config_file}: {exc}" if config_file else str(exc)) from None
    name_list = [n.strip() for n in names.split(",")] if names else None
    report = evaluate_files(list(predictions), names=name_list, out_dir=out, settings=settings)
    click.echo(f"report: {report}")
    if mlflow_uri is not None:
        from tumorbench.runfolder import RunFolder
        from tumorbench.tracking import track_evaluation

        used = list(read_json(RunFolder(out).metrics_json)["models"])  # the names the report gave the files
        run_id = track_evaluation(Path(out), list(predictions), used, tracking_uri=mlflow_uri)
        click.echo(f"mlflow: run {run_id}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@friendly_errors
def report(run_dir) -> None:
    """Rebuild the report of a run folder (no model, no GPU needed)."""
    from tumorbench.sections import write_full_report

    click.echo(f"report: {write_full_report(run_dir)}")
