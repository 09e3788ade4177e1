"""`tumorbench audit` and `tumorbench dataset`: the data before any model."""

from __future__ import annotations

from pathlib import Path

import click

from tumorbench.cli._main import main
from tumorbench.cli.errors import friendly_errors


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
