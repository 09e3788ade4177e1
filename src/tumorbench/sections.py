"""The optional report sections a run folder can carry (imbalance study, dataset audit), found from
the files the run left, so `tumorbench report RUN_DIR` rebuilds exactly what `run` wrote."""

from __future__ import annotations

from pathlib import Path

from tumorbench._io import read_json
from tumorbench.report import Section, build_report

_DEDUP_NOTES = {
    "drop_test": "This run left the test images with a duplicate in training out of its test split "
                 "(dedup=drop_test): every score below is on the de-duplicated test split.",
    "clean_val": "This run chose its best epochs and ensemble weights on validation images without a duplicate "
                 "in training (dedup=clean_val: the others moved to training); the test split is the dataset's own.",
    "group_split": "This run re-split all images by groups of exact and near duplicates (dedup=group_split): "
                   "its test split is not the dataset's own, and no duplicate straddles two splits. The counts "
                   "below are of the dataset's own folders.",
}
_VAL_GROUPS_NOTES = {
    "cluster": "This run's validation holds out whole clusters of similar-looking training images per class "
               "(val_groups=cluster), so best epochs and ensemble weights are chosen on images unlike the "
               "training ones, as after a change of source.",
}


def _dedup_note(run_dir: Path) -> str | None:
    """How the run used the audit, from its config.yaml (absent or unreadable: nothing to say)."""
    from tumorbench.runfolder import read_run_config

    try:
        config = read_run_config(run_dir, fix="") or {}
    except (OSError, ValueError):
        return None
    notes = [_DEDUP_NOTES.get(config.get("dedup")), _VAL_GROUPS_NOTES.get(config.get("val_groups"))]
    return " ".join(n for n in notes if n) or None


def audit_section(audit: dict, root=None, *, note: str | None = None) -> Section:
    """The audit as a report Section (title, HTML, Markdown), shown at the top of the report; `note`
    (plain text) is a first paragraph, e.g. how the run used the audit. Built here, on the report's
    side, so that the audit package never imports the report (which reads the audit)."""
    from markupsafe import Markup, escape

    from tumorbench.audit import audit_found_nothing, audit_markdown, audit_section_html, audit_warnings

    html, markdown = audit_section_html(audit, root), audit_markdown(audit)
    if note:
        html = Markup("<p><strong>{}</strong></p>\n").format(note) + html
        markdown = f"**{escape(note)}**\n\n{markdown}"
    return Section("Dataset audit", html, markdown, at_top=True, warnings=audit_warnings(audit),
                   collapsed=audit_found_nothing(audit))


def run_sections(run_dir: Path) -> list:
    from tumorbench.audit import load_audit
    from tumorbench.runfolder import RunFolder
    from tumorbench.study.imbalance import imbalance_section

    run_dir = Path(run_dir)
    sections = []
    run = RunFolder(run_dir)
    if run.audit.is_file():
        sections.append(audit_section(load_audit(run.audit), note=_dedup_note(run_dir)))
    if run.study_summary.is_file():
        sections.append(imbalance_section(read_json(run.study_summary)))
    return sections


def write_full_report(run_dir: Path, **report_options) -> Path:
    """report.html (and .md, metrics files, figures) of a run folder, with all its sections; the keyword
    arguments go to `build_report`."""
    return build_report(Path(run_dir), sections=run_sections(run_dir), **report_options)
