"""The optional report sections a run folder can carry (imbalance study, dataset audit), found from
the files the run left, so `tumorbench report RUN_DIR` rebuilds exactly what `run` wrote."""

from __future__ import annotations

from pathlib import Path

from tumorbench._io import read_json
from tumorbench.report import build_report


def run_sections(run_dir: Path) -> list:
    from tumorbench.study.imbalance import SUMMARY_FILE, imbalance_section

    run_dir = Path(run_dir)
    sections = []
    if (run_dir / SUMMARY_FILE).is_file():
        sections.append(imbalance_section(read_json(run_dir / SUMMARY_FILE)))
    return sections


def write_full_report(run_dir: Path) -> Path:
    """report.html (and .md, metrics files, figures) of a run folder, with all its sections."""
    return build_report(Path(run_dir), sections=run_sections(run_dir))
