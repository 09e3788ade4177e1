"""Writing a report: metrics.json, metrics.csv, static figures, report.md and report.html.

Every file goes through the atomic writers, and report.html is written last, so its presence means the
report is complete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from markupsafe import Markup

from tumorbench._io import atomic_write, write_json, write_text
from tumorbench.classes import CLASS_NAMES
from tumorbench.evaluation.assess import Assessment, assess
from tumorbench.evaluation.files import evaluate_predictions
from tumorbench.evaluation.model_result import ModelResult
from tumorbench.evaluation.settings import EvaluationSettings, evaluation_settings
from tumorbench.evaluation.table import intervals_table, metric_columns, metrics_table
from tumorbench.predictions.io import write_predictions
from tumorbench.report._render import FigureView, render_html, render_markdown
from tumorbench.report._run import load_run
from tumorbench.report.figure_list import FigureSpec, model_figures, overview_figures
from tumorbench.report.gallery import load_gallery
from tumorbench.report.verdict import checks_html, checks_markdown, compute_verdict, section_anchors, verdict_sections
from tumorbench.report_section import Section  # noqa: F401  (re-exported: report.Section)
from tumorbench.runfolder import RunFolder

PLOTLY_MODES = ("inline", "cdn")

SCHEMA_VERSION = 1


def evaluate_files(paths: list[Path], *, names: list[str] | None = None, out_dir: Path,
                   settings: EvaluationSettings | None = None, history=None, **report_options) -> Path:
    """Metrics, figures and report from predictions files alone; returns the report.html path.

    Files are compared on the same images only: two files over different image sets raise ValueError
    naming both files and the number of differing images. `history` gives training histories of models
    trained elsewhere, drawn as their training curves: a mapping model name -> file, or `NAME=FILE`
    strings (see `tumorbench.evaluation.history.read_history_file` for the formats). `plotly`: "inline"
    (the report carries plotly.js and works offline) or "cdn" (a small file that loads it online).

        evaluate_files([Path("a/predictions_test.csv"), Path("b.csv")], out_dir=Path("out"))
        # -> PosixPath('out/report.html')
    """
    check_plotly_mode(report_options.get("plotly", "inline"))
    results = evaluate_predictions(paths, names=names, settings=settings, history=history)
    title = "tumorbench evaluation: " + ", ".join(r.name for r in results)
    return write_report(results, Path(out_dir), title=title, evaluated_on="predictions given", settings=settings,
                        **report_options)


def check_plotly_mode(plotly: str) -> None:
    if plotly not in PLOTLY_MODES:
        raise ValueError(f"unknown plotly mode {plotly!r}; valid modes: {', '.join(PLOTLY_MODES)} (inline: the "
                         "report works offline; cdn: a smaller file that loads plotly.js from its CDN)")


def build_report(run_dir: Path, *, sections: Sequence[Section] = (), **report_options) -> Path:
    """(Re)build the report of a run folder from its predictions and histories; returns report.html.

    Needs no model and no GPU. A model folder without predictions_test.csv is left out with a note; a
    run folder with no complete model, or a corrupt file, raises with the file name and the fix.
    """
    check_plotly_mode(report_options.get("plotly", "inline"))
    settings = run_settings(Path(run_dir))
    run = load_run(Path(run_dir), settings=settings)
    notes = list(run.notes)
    if run.skipped_files is not None:
        notes.append(
            f"{len(run.skipped_files)} image files could not be read and were skipped "
            "(listed under 'Skipped files')."
        )
    from tumorbench.crossdata.results import load_externals

    return write_report(
        run.models,
        run.run_dir,
        title=f"tumorbench report: {Path(run.run_dir).resolve().name}",
        evaluated_on="test split",
        notes=notes,
        skipped_files=run.skipped_files,
        sections=sections,
        settings=settings,
        externals=load_externals(run.run_dir, settings),
        **report_options,
    )


def run_settings(run_dir: Path) -> EvaluationSettings:
    """The `evaluation` settings of a run folder's config.yaml (defaults without one)."""
    from tumorbench.runfolder import RunFolder, read_run_config

    config = read_run_config(Path(run_dir), fix="restore the file or delete it (the report then uses the default "
                                                "evaluation settings)") or {}
    try:
        return evaluation_settings(config.get("evaluation"))
    except ValueError as exc:
        raise ValueError(f"{RunFolder(run_dir).config}: {exc}") from None


def slug(name: str, taken: set[str]) -> str:
    """A file-name-safe form of `name`, not yet in `taken` (which receives it)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


def _save(figure, figures_dir: Path, stem: str) -> tuple[str, str]:
    """Write a matplotlib figure as PNG and SVG; return their paths relative to the report."""
    out = []
    for fmt, kwargs in (("png", {"dpi": 150}), ("svg", {"metadata": {"Date": None}})):
        path = figures_dir / f"{stem}.{fmt}"
        atomic_write(path, lambda p, fmt=fmt, kwargs=kwargs: figure.savefig(p, format=fmt, **kwargs))
        out.append(f"{figures_dir.name}/{path.name}")
        # The first save laid the figure out (constrained layout, a pass of its own over every text);
        # the second keeps those positions instead of computing them again.
        figure.set_layout_engine("none")
    return out[0], out[1]


def _figure(spec: FigureSpec, figures_dir: Path) -> FigureView:
    png, svg = _save(spec.static(), figures_dir, spec.stem)
    config = {"displaylogo": False, "responsive": True}
    html = spec.plotly().to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{spec.stem}",
                                 config=config)
    return FigureView(title=spec.title, html=Markup(html), png=png, svg=svg)


def write_report(
    results: Sequence[ModelResult],
    out_dir: Path,
    *,
    title: str,
    evaluated_on: str,
    notes: Sequence[str] = (),
    skipped_files=None,
    sections: Sequence[Section] = (),
    settings: EvaluationSettings | None = None,
    plotly: str = "inline",
    externals: Sequence = (),
    sources: dict | None = None,
) -> Path:
    """Write metrics.json, metrics.csv, figures/, calibrated/, report.md and report.html for evaluated
    models (intervals, paired tests and calibration are computed here, by `assess`). `plotly`: "inline"
    embeds plotly.js once (offline), "cdn" links it (small file, needs the network to draw figures).
    `externals` (`tumorbench.crossdata.results.load_externals`): external test sets, each a section, with
    the generalisation gap of every model and which model generalises best; their gaps feed the verdict's
    generalisation check. `sources`: {test image: source dataset} for the verdict's segments."""
    check_plotly_mode(plotly)
    out_dir = Path(out_dir)
    figures_dir = RunFolder(out_dir).figures
    taken: set[str] = set()
    slugs = {r.name: slug(r.name, taken) for r in results}
    assessment = assess(results, settings, evaluated_on=evaluated_on)
    generalisation = None
    from tumorbench.crossdata.results import verdict_gaps

    if externals:
        from tumorbench.crossdata.render import external_sections
        from tumorbench.crossdata.results import add_gaps, source_points
        from tumorbench.crossdata.results import generalisation as generalises_best

        add_gaps(externals, results, replicates=assessment.replicates,
                 confidence=assessment.settings.bootstrap.confidence)
        generalisation = generalises_best(externals, assessment.recommendation.ranking)
        if generalisation:
            assessment.recommendation.summary.extend(generalisation["summary"])
        sections = [*sections, *external_sections(externals, source_points(results), advice=generalisation)]
    # The checks, suspect labels and segments (label_issues.csv is written here).
    verdict = compute_verdict(results, out_dir, assessment.settings, externals=verdict_gaps(externals),
                              sources=sources)
    sections = [*sections, *verdict_sections(verdict)]
    metrics_by_model = {r.name: r.metrics for r in results}
    table = metrics_table(metrics_by_model)
    bounds = intervals_table(metrics_by_model)
    table = table.join(bounds)

    calibrated = {}
    for r in results:
        if r.calibrated is not None:
            # A new file, named as such: the model's own predictions file is never rewritten.
            path = RunFolder(out_dir).calibrated / f"{slugs[r.name]}_predictions_test_temperature_scaled.csv"
            write_predictions(path, r.calibrated)
            calibrated[r.name] = f"calibrated/{path.name}"
    document = {**_metrics_document(results, assessment, evaluated_on, notes, out_dir, calibrated), **verdict.to_dict()}
    if externals:
        # `external.<name>`: each external test set (metrics with and without copies, gap per model);
        # `generalisation`: which model generalises best, and on what basis.
        document["external"] = {e.name: e.to_dict() for e in externals}
        document["generalisation"] = generalisation
    write_json(RunFolder(out_dir).metrics_json, document)
    atomic_write(RunFolder(out_dir).metrics_csv, lambda p: table.to_csv(p, float_format="%.6g"))

    overview = [_figure(spec, figures_dir) for spec in overview_figures(table, evaluated_on)]
    curves = {r.name: r.training for r in results if r.training is not None}
    if len(curves) > 1:
        # Every model's curves on one pair of axes: its own trainings and histories given with --history.
        from tumorbench.report import figures_plotly as fp
        from tumorbench.report import figures_static as fs

        overview.append(_figure(FigureSpec("training_curves_by_model", "training_curves_by_model",
                                           "Validation curves of every model", lambda: fp.histories_figure(curves),
                                           lambda: fs.plot_histories(curves)[0].figure), figures_dir))
    per_model = {r.name: [_figure(spec, figures_dir) for spec in model_figures(r, slugs[r.name])] for r in results}
    galleries = {r.name: load_gallery(r.source, r.frame, slug=slugs[r.name]) if r.frame is not None
                 else (None, "") for r in results}

    context = dict(
        title=title,
        evaluated_on=evaluated_on,
        results=results,
        slugs=slugs,
        sources={r.name: _shown_path(r.source, out_dir) for r in results},
        table=table,
        assessment=assessment,
        calibrated=calibrated,
        notes=list(notes),
        skipped_files=skipped_files,
        sections=list(sections),
        overview=overview,
        per_model=per_model,
        galleries=galleries,
        plotly=plotly,
        checks_html=checks_html(verdict.checks, section_anchors(sections)),
        checks_markdown=checks_markdown(verdict.checks, has_audit=any(s.title == "Dataset audit" for s in sections)),
    )
    write_text(RunFolder(out_dir).report_md, render_markdown(context))
    return write_text(RunFolder(out_dir).report_html, render_html(context))


def _shown_path(path: Path, out_dir: Path) -> str:
    """A predictions path as the report shows it: relative to the report when inside its folder."""
    try:
        return Path(path).resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _metrics_document(results: Sequence[ModelResult], assessment: Assessment, evaluated_on: str,
                      notes: Sequence[str], out_dir: Path, calibrated: dict[str, str]) -> dict:
    advice = assessment.recommendation

    def model_entry(r: ModelResult) -> dict:
        entry = dict(r.metrics)
        if r.dedup is not None:
            # `dedup`: the same metrics on the de-duplicated test split, next to the full split's keys.
            entry["dedup"] = r.dedup
        entry["calibration"] = {**(r.calibration or {}), "calibrated_predictions": calibrated.get(r.name)}
        # Tumour vs no tumour, and the operating points (thresholds chosen on validation): docs/binary-view.md.
        entry["binary"] = r.binary
        entry["operating_points"] = r.operating_points
        return entry

    document = {
        "schema_version": SCHEMA_VERSION,
        "classes": metric_columns(results[0].metrics) if results else list(CLASS_NAMES),
        "evaluated_on": evaluated_on,
        "ranking": advice.ranking,
        "ranking_basis": advice.basis,
        "recommendation": advice.summary,
        "models": {r.name: model_entry(r) for r in results},
        # How every models.<name>.intervals entry was made, and the evaluation settings used.
        "intervals": assessment.method,
        "settings": assessment.settings.to_dict(),
        "comparison": assessment.comparison.to_dict(),
        "seeds": assessment.seeds,
        "sources": {r.name: _shown_path(r.source, out_dir) for r in results},
        "notes": list(notes),
    }
    validation = {r.name: r.validation for r in results if r.validation is not None}
    if validation:
        document["validation"] = validation
    return document
