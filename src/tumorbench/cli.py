"""The `tumorbench` command: thin wiring of the library's data, models, training and report steps."""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path

import click

from tumorbench.external.cli_commands import export, model_spec_options, spec_from_options, zoo

log = logging.getLogger("tumorbench")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose < 0 else logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)


def friendly_errors(fn):
    """Bad input ends with one clear message (file, value, fix), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            # Said for every command: files already written are whole (atomic writes); only a
            # training run has something to resume.
            raise click.ClickException("interrupted; every file already written is complete (an interrupted "
                                       "`tumorbench run` is finished with --resume and the same --out)") from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tumorbench")
@click.option("-v", "--verbose", count=True, help="More log output (-v: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def main(verbose: int, quiet: bool) -> None:
    """Train, evaluate and compare brain-tumour MRI classifiers (glioma, meningioma, no tumour,
    pituitary) and write benchmark reports."""
    _setup_logging(-1 if quiet else verbose)


def _cli_layer(**options) -> dict:
    layer: dict = {}
    train = {k: options.pop(k) for k in ("epochs", "batch_size", "lr") if options.get(k) is not None}
    if train:
        layer["train"] = train
    models = options.pop("models", None)
    if models:
        layer["models"] = [m.strip() for m in models.split(",") if m.strip()]
    layer.update({k: v for k, v in options.items() if v is not None})
    return layer


def training_options(fn):
    """Options shared by every command that trains: data, config, run folder and overrides."""
    options = [
        click.option("--data", type=click.Path(path_type=Path), help="Dataset root "
                     "(<root>/<split>/<class>/<image>). Default: the embedded synthetic dataset."),
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML config file."),
        click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: runs/<timestamp>)."),
        click.option("--epochs", type=int, help="Epochs for every model."),
        click.option("--batch-size", type=int, help="Batch size for every model."),
        click.option("--lr", type=float, help="Adam learning rate for every model."),
        click.option("--image-size", type=int, help="Input side in px for every model (e.g. 128 on a CPU)."),
        click.option("--seed", type=int, help="Seed for the split, initialisation and data order."),
        click.option("--device", help="auto (default), cpu, cuda or cuda:N."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help="auto (default: bf16 "
                     "on CPUs with native BF16, mixed precision on CUDA, else fp32), fp32, bf16 or fp16 (CUDA)."),
        click.option("--deterministic", is_flag=True, default=None, help="Ask PyTorch for deterministic kernels."),
        click.option("--weights", help="Transfer models: imagenet (default), none, or a local weights file."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Any config value, e.g. train.finetune_epochs=2 or model_1.image_size=128 (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _resolve(data, config_file, sets, options, *, presets=("embedded",)):
    """The dataset root and the RunConfig from presets (embedded dataset only), config file, options
    and --set."""
    from tumorbench.config import load_yaml, make_config, preset

    layers = []
    if data is None:
        from tumorbench.data.synthetic import ensure_default_dataset

        data_root = ensure_default_dataset()
        layers.extend(preset(name) for name in presets)
        click.echo(f"dataset: embedded synthetic dataset (not clinical data) at {data_root}", err=True)
    else:
        data_root = Path(data)
    if config_file:
        layers.append(load_yaml(config_file))
    layers.append(_cli_layer(**options))
    return data_root, make_config(*layers, sets=list(sets))


@main.command()
@training_options
@click.option("--models", help="Comma-separated model names (see `tumorbench models`).")
@click.option("--resume", is_flag=True, help="Finish an interrupted run in --out; complete models are kept.")
@click.option("--dedup", type=click.Choice(["none", "drop_test", "group_split"]), help="Duplicates the audit "
              "finds: none (default: report full and de-duplicated test metrics), drop_test (leave duplicated "
              "test images out) or group_split (re-split every image by duplicate groups).")
@friendly_errors
def run(data, config_file, out, resume, sets, **options) -> None:
    """Train the configured models, predict the test split, write the run folder and its report."""
    from tumorbench.run import default_run_dir, run_benchmark, summary_table
    from tumorbench.sections import write_full_report

    started = time.perf_counter()
    data_root, config = _resolve(data, config_file, sets, options)
    out = Path(out or config.out or default_run_dir())
    run_benchmark(config, data_root=data_root, out=out, resume=resume)
    click.echo(summary_table(out).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    report = write_full_report(out)
    click.echo(f"report: {report}")
    click.echo(f"results: {out} ({time.perf_counter() - started:.0f} s)")


@main.group()
def study() -> None:
    """Experiments over grids of trainings."""


@study.command("imbalance")
@training_options
@click.option("--models", default="model_1", show_default=True, help="Comma-separated model names.")
@click.option("--strategies", default=None, help="Comma-separated balancing strategies (default: all: "
              "none, oversample, undersample, class_weight, augment_balance, weighted_sampler, focal).")
@click.option("--seeds", default=2, show_default=True, type=int, help="Training seeds per cell.")
@friendly_errors
def study_imbalance(data, config_file, out, sets, models, strategies, seeds, **options) -> None:
    """Train models x balancing strategies x seeds into one run folder and report the comparison.

    Stopped and restarted with the same options and --out, it keeps the finished cells."""
    from tumorbench.data.balance import STRATEGIES
    from tumorbench.run import default_run_dir
    from tumorbench.sections import write_full_report
    from tumorbench.study import imbalance_config, run_imbalance_study

    started = time.perf_counter()
    data_root, base = _resolve(data, config_file, sets, {**options, "models": models},
                               presets=("embedded", "embedded_study"))
    names = [m.name for m in base.models]
    chosen = [s.strip() for s in (strategies or ",".join(STRATEGIES)).split(",") if s.strip()]
    config = imbalance_config(base, models=names, strategies=chosen, seeds=seeds)
    out = Path(out or base.out or default_run_dir())
    run_imbalance_study(config, data_root=data_root, out=out)
    report = write_full_report(out)
    click.echo(f"report: {report}")
    click.echo(f"results: {out} ({time.perf_counter() - started:.0f} s)")


@main.command()
@click.argument("predictions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", help="Comma-separated model names, one per file (default: from the file names).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the report.")
@friendly_errors
def evaluate(predictions, names, out) -> None:
    """Metrics, figures and report from predictions files alone (models trained anywhere)."""
    from tumorbench.report import evaluate_files

    name_list = [n.strip() for n in names.split(",")] if names else None
    report = evaluate_files(list(predictions), names=name_list, out_dir=out)
    click.echo(f"report: {report}")


@main.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="Folder for audit.json, audit.html and audit.md (default: runs/audit-<timestamp>).")
@click.option("--threshold", type=int, help="Near duplicates: largest pHash Hamming distance, of 256 bits "
              "(default: the tuned value, see benchmarks/bench_audit.py).")
@click.option("--no-cache", is_flag=True, help="Recompute every file's features instead of reusing the cache.")
@friendly_errors
def audit(data, out, threshold, no_cache) -> None:
    """Audit a dataset: duplicates within and across splits, label conflicts, file properties per
    class, and whether file properties alone give the class away."""
    from tumorbench.audit import audit_dataset, audit_summary, write_audit
    from tumorbench.run import default_run_dir

    result = audit_dataset(data, near_threshold=threshold, cache_dir=False if no_cache else None)
    stamped = default_run_dir()
    out = Path(out or stamped.with_name(f"audit-{stamped.name}"))
    page = write_audit(result, out)
    click.echo(audit_summary(result))
    click.echo(f"audit: {page} (and {out / 'audit.json'}, {out / 'audit.md'}; {result['timing_s']['total']:.0f} s)")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@friendly_errors
def report(run_dir) -> None:
    """Rebuild the report of a run folder (no model, no GPU needed)."""
    from tumorbench.sections import write_full_report

    click.echo(f"report: {write_full_report(run_dir)}")


@main.command()
# A string, not a click.Path: `zoo:NAME` is a model too.
@click.option("--model", "checkpoint", required=True, metavar="FILE|zoo:NAME",
              help="tumorbench checkpoint, .onnx, .keras/.h5, TorchScript, state dict (with --arch), or zoo:NAME.")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset root.")
@click.option("--split", default="Testing", show_default=True, help="Split folder to predict.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Predictions CSV to write.")
@click.option("--info", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the model's details and notes as JSON (default: OUT with the suffix "
                   ".info.json, where `tumorbench evaluate` finds it and shows the notes in the report).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", default=64, show_default=True, type=int)
@model_spec_options
@friendly_errors
def predict(checkpoint, data, split, out, info, device, batch_size, spec_file, arch, **spec_options) -> None:
    """Write the predictions file (image, label, prob_<class>...) of a model on a dataset split.

    Foreign models are read with their own preprocessing: from the zoo entry, the sidecar
    <model file>.tumorbench.yaml, --spec FILE, then the options below, each overriding the one before."""
    from tumorbench.device import select_device
    from tumorbench.predictions.io import info_path
    from tumorbench.predictions.predict import predict_folder

    path, rows, bad = predict_folder(checkpoint, data, split=split, out=out, device=select_device(device),
                                     batch_size=batch_size, spec=spec_from_options(**spec_options),
                                     spec_file=spec_file, arch=arch, info=info or info_path(out))
    for rel, reason in bad:
        click.echo(f"skipped unreadable image {rel}: {reason}", err=True)
    click.echo(f"wrote {rows} predictions to {path}" + (f" ({len(bad)} unreadable image(s) skipped)" if bad else ""))


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


@main.command()
@click.option("--path-only", is_flag=True, help="Print the dataset folder only.")
@friendly_errors
def dataset(path_only: bool) -> None:
    """Generate (first use) and locate the embedded synthetic dataset."""
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.synthetic import ensure_default_dataset

    root = ensure_default_dataset()
    if path_only:
        click.echo(root)
        return
    index = scan_dataset(root)
    click.echo(f"{root}  (synthetic, not clinical data)")
    for split in index.splits:
        click.echo(f"  {index.split_dirs[split]:10s} " + ", ".join(f"{c} {n}" for c, n in index.class_counts(split).items()))


main.add_command(zoo)
main.add_command(export)


if __name__ == "__main__":
    main()
