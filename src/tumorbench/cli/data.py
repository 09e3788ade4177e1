"""`tumorbench audit` and `tumorbench dataset`: the data before any model."""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors
from tumorbench.cli.options import class_map_option


@main.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="Folder for audit.json, audit.html and audit.md (default: runs/audit-<timestamp>).")
@click.option("--threshold", type=int, help="Near duplicates: largest pHash Hamming distance, of 256 bits "
              "(default: the tuned value, see benchmarks/bench_audit.py).")
@click.option("--no-cache", is_flag=True, help="Recompute every file's features instead of reusing the cache.")
@class_map_option
@click.option("--against", type=click.Path(path_type=Path), metavar="OTHER",
              help="A second dataset: find the exact and near copies of its images in DATA (which images, "
                   "DATA's split and label); written as cross_audit.json and a section of the page.")
@click.option("--against-class-map", metavar="FOLDER=CLASS,...",
              help="Rename OTHER's class folders, as --class-map does DATA's (e.g. yes=tumor,no=no_tumor).")
@friendly_errors
def audit(data, out, threshold, no_cache, class_map, against, against_class_map) -> None:
    """Audit a dataset: duplicates within and across splits, label conflicts, file properties per
    class, and whether file properties alone give the class away; with --against, the copies of
    another dataset's images in this one."""
    from tumorbench.api import audit as audit_api
    from tumorbench.runfolder import AUDIT_FILE, AUDIT_MD, CROSS_AUDIT_FILE

    result = audit_api(data, out=out, threshold=threshold, cache=not no_cache, class_map=class_map,
                       against=against, against_class_map=against_class_map)
    click.echo(result.summary)
    files = [result.folder / AUDIT_FILE, result.folder / AUDIT_MD]
    if result.cross is not None:
        files.append(result.folder / CROSS_AUDIT_FILE)
    seconds = result.audit["timing_s"]["total"] + (result.cross["timing_s"]["total"] if result.cross else 0)
    click.echo(f"audit: {result.report_path} (and {', '.join(map(str, files))}; {seconds:.0f} s)")


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
        counts = ", ".join(f"{c} {n}" for c, n in index.class_counts(split).items())
        click.echo(f"  {index.split_dirs[split]:10s} {counts}")
