"""The report's verdict parts: the checks table at the top, suspect labels and where each model fails.

`compute_verdict` gathers what the checks, the label issues and the segments need from the report folder
(audit.json, the split lists, the images under the audit's root when they are there) and computes all
three once; `write_report` puts them in metrics.json (`checks`, `label_issues`, `segments`), the
Markdown and the HTML (the checks first, the two others as sections), and writes label_issues.csv.
What cannot be computed (no audit, no images, no cleanlab) is said, never guessed.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from tumorbench.evaluation.checks import Check, run_checks
from tumorbench.evaluation.settings import EvaluationSettings
from tumorbench.runfolder import LABEL_ISSUES_FILE

log = logging.getLogger(__name__)

GALLERY_SIZE = 24  # suspect labels shown as thumbnails
THUMB_PX = 112
SHOWN_ISSUES = 30  # rows of the suspect-label table in the report (label_issues.csv has them all)
CHECK_ANCHORS = {"comparison": "#comparison", "calibration": "#calibration", "pairwise": "#pairwise",
                 "externals": "#externals", "audit": "#checks"}
LABEL_ISSUES_TITLE = "Suspect labels"
SEGMENTS_TITLE = "Where each model fails"


@dataclass
class Verdict:
    checks: list[Check]
    label_issues: pd.DataFrame | None = None  # merge_issues; None when not computed (`label_note` says why)
    label_note: str = ""
    segments: dict[str, pd.DataFrame] = field(default_factory=dict)  # model -> segment_metrics
    worst: dict[str, pd.DataFrame] = field(default_factory=dict)  # model -> worst_segments
    segment_note: str = ""
    min_size: int = 20
    thumbnails: dict[str, str] = field(default_factory=dict)  # image -> data URI
    baseline: str | None = None  # the simple baseline the checks compared with

    def to_dict(self) -> dict:
        issues = None
        if self.label_issues is not None:
            issues = self.label_issues.replace({np.nan: None}).to_dict(orient="records")
        return {
            "checks": [c.to_dict() for c in self.checks],
            "label_issues": {"n": None if issues is None else len(issues), "note": self.label_note,
                             "top": (issues or [])[:SHOWN_ISSUES]},
            "segments": {"min_size": self.min_size, "note": self.segment_note,
                         "models": {m: t.to_dict(orient="records") for m, t in self.segments.items()},
                         "worst": {m: t.to_dict(orient="records") for m, t in self.worst.items()}},
        }


def _records(run_dir: Path):
    """Training + validation records of the run's split lists (None when absent)."""
    from tumorbench.data.split import read_split_list
    from tumorbench.runfolder import RunFolder

    out = []
    for split, name in (("train", "training"), ("val", "validation")):
        path = RunFolder(run_dir).split_list(split)
        if not path.is_file():
            return None
        out.extend((r, name) for r in read_split_list(path) if r.label)
    return out


def _thumbnail_uri(path: Path) -> str | None:
    from PIL import Image

    from tumorbench.explain.gallery import jpeg_bytes

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((THUMB_PX, THUMB_PX))
            return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(img)).decode()
    except (OSError, ValueError):
        return None


def compute_verdict(results: Sequence, out_dir: Path, settings: EvaluationSettings | None = None, *,
                    externals: Mapping | None = None, sources: Mapping[str, str] | None = None) -> Verdict:
    """Checks, suspect labels and segments of evaluated models written into `out_dir`.

    `externals`: {model: {dataset: {"own": accuracy, "external": accuracy}}} for the generalisation gap;
    `sources`: {test image: source dataset} for the segments; both hooks for external test datasets."""
    from tumorbench.evaluation import label_issues as li
    from tumorbench.evaluation import segments as seg
    from tumorbench.evaluation import thumbnails as th
    from tumorbench.runfolder import RunFolder

    settings = settings or EvaluationSettings()
    out_dir = Path(out_dir)
    audit = None
    if RunFolder(out_dir).audit.is_file():
        from tumorbench.audit import load_audit

        audit = load_audit(RunFolder(out_dir).audit)
    root = Path(audit["root"]) if audit and audit.get("root") and Path(audit["root"]).is_dir() else None
    first = results[0].frame
    test = first[first["label"].astype(str) != ""]
    records = _records(out_dir) if root is not None else None

    # One decoding of small grayscale copies serves the thumbnail baseline, the out-of-fold probabilities
    # and the appearance clusters.
    baseline = oof = None
    why_not = "No hog_svm in the run and no training images to fit the thumbnail baseline on (predictions alone)."
    clusters = None
    if records:
        try:
            x_all, ok, _ = th.decode_thumbnails(root, [r.path for r, _ in records] + test["image"].tolist())
            index = {p: i for i, p in enumerate(ok)}
            split_of = {r.path: s for r, s in records}
            label_of = {r.path: r.label for r, _ in records}
            train_paths = [r.path for r, _ in records if r.path in index]
            test_paths = [p for p in test["image"] if p in index]
            x_train = x_all[[index[p] for p in train_paths]]
            x_test = x_all[[index[p] for p in test_paths]]
            classes, oof_p, test_p = th.fit_thumbnail_model(x_train, [label_of[p] for p in train_paths], x_test,
                                                            seed=settings.bootstrap.seed)
            baseline = th.probabilities_frame(test_paths, classes, test_p)
            oof = (train_paths, [label_of[p] for p in train_paths], [split_of[p] for p in train_paths], classes,
                   oof_p)
            clusters = _clusters(x_train, [label_of[p] for p in train_paths], x_test, test_paths, test, settings)
        except (ValueError, OSError) as exc:
            why_not = f"The thumbnail baseline could not be fitted: {exc}."
            log.warning("%s", why_not)
    checks = run_checks(results, settings, audit=audit, baseline=baseline, baseline_name=th.BASELINE_NAME,
                        baseline_why_not=why_not, externals=externals)
    verdict = Verdict(checks, min_size=settings.segment_min_size,
                      baseline=next((c.numbers.get("baseline") for c in checks if c.key == "beats_simple_baseline"),
                                    None))

    # Suspect labels.
    try:
        import cleanlab  # noqa: F401

        tables = []
        if oof is not None:
            paths, labels, splits, classes, probs = oof
            for split in ("training", "validation"):
                rows = [i for i, s in enumerate(splits) if s == split]
                if rows:
                    source = f"{li.CONFIDENT_LEARNING} (out-of-fold {th.BASELINE_NAME})"
                    tables.append(li.confident_learning([paths[i] for i in rows], [labels[i] for i in rows],
                                                        classes, probs[rows], split=split, source=source))
        images, labels, classes, probs = li.mean_test_probabilities([r.frame for r in results])
        tables.append(li.confident_learning(images, labels, classes, probs, split="test",
                                            source=f"{li.CONFIDENT_LEARNING} (the models' test predictions)"))
        copy_labels = getattr(results[0], "copy_labels", None)
        tables.append(li.audit_issues(audit, copy_labels, dict(zip(images, labels))))
        verdict.label_issues = li.merge_issues(*tables)
        verdict.label_note = (
            (f"Training and validation images: confident learning (cleanlab's find_label_issues) on out-of-fold "
             f"probabilities of a {th.BASELINE_NAME} ({th.FOLDS} folds). " if oof is not None else
             "Training images not available here (no run folder split lists, audit or images): test images only. ")
            + "Test images: the same on the mean test probabilities of the models. Merged with the audit's label "
              "conflicts and the test images whose training copy is filed under another class.")
        li.write_label_issues(RunFolder(out_dir).label_issues, verdict.label_issues)
        if root is not None:
            for image in verdict.label_issues["image"].head(GALLERY_SIZE):
                uri = _thumbnail_uri(root / image)
                if uri:
                    verdict.thumbnails[image] = uri
    except ValueError as exc:  # e.g. cleanlab refusing probabilities of a degenerate split
        verdict.label_issues = None
        verdict.label_note = f"Suspect labels could not be computed: {exc}."
        log.warning("%s", verdict.label_note)
    except ImportError:
        verdict.label_note = ("Suspect labels need cleanlab: pip install 'tumorbench[labels]' and rebuild the "
                              "report (`tumorbench report RUN_DIR`).")

    # Where each model fails.
    attributes = seg.file_attributes(root, test["image"].tolist())
    status = seg.copy_status(first, getattr(results[0], "copy_labels", None), results[0].duplicated)
    if status is not None:
        attributes["copy"] = status.reindex(attributes.index)
    if clusters is not None:
        attributes["cluster"] = clusters.reindex(attributes.index)
    if sources:
        attributes["source"] = pd.Series(sources).reindex(attributes.index)
    attributes = attributes.dropna(axis=1, how="all")
    missing = [seg.DIMENSIONS[d] for d in ("size", "colour", "cluster", "copy") if d not in attributes.columns]
    verdict.segment_note = (f"Segments of fewer than {settings.segment_min_size} test images are left out "
                            "(evaluation.segment_min_size)."
                            + (f" Not available here: {', '.join(missing)} (needs the images, the audit or "
                               "the run's split lists)." if missing else ""))
    boot = settings.bootstrap
    for r in results:
        table = seg.segment_metrics(r.frame, attributes, resamples=boot.resamples, seed=boot.seed,
                                    confidence=boot.confidence)
        verdict.segments[r.name] = table
        verdict.worst[r.name] = seg.worst_segments(table, overall=float(r.metrics["accuracy"]),
                                                   min_size=settings.segment_min_size)
    return verdict


def _clusters(x_train, train_labels, x_test, test_paths, test, settings) -> pd.Series | None:
    """Appearance cluster of each test image (nearest training cluster of its class), None when the
    training classes are too small to cluster."""
    from tumorbench.data.appearance import appearance_clusters, appearance_descriptors
    from tumorbench.data.folder import ImageRecord
    from tumorbench.evaluation.segments import nearest_clusters

    desc = appearance_descriptors(np.concatenate([x_train, x_test]))
    records = [ImageRecord(f"{i}", label) for i, label in enumerate(train_labels)]
    try:
        found = appearance_clusters(records, desc[:len(x_train)], seed=settings.bootstrap.seed)
    except ValueError:
        return None
    labels = test.set_index("image").loc[test_paths, "label"].astype(str).tolist()
    return pd.Series(nearest_clusters(desc[:len(x_train)], train_labels, found, desc[len(x_train):], labels),
                     index=test_paths)


# ---- rendering -------------------------------------------------------------------------------------------

_BADGE = {"pass": "#1b7f3b", "warn": "#b7791f", "fail": "#c53030", "not run": "#718096"}


def checks_html(checks: Sequence[Check], anchors: Mapping[str, str]) -> Markup:
    rows = Markup("").join(
        Markup('<tr><td class="text"><a href="{}">{}</a></td><td class="text"><strong style="color:{}">{}</strong>'
               '</td><td class="text">{}</td>'
               '<td class="text muted" style="white-space:normal;min-width:320px">{}</td></tr>').format(
            anchors.get(c.section, "#checks"), c.title, _BADGE[c.status], c.status.upper(), c.value, c.detail)
        for c in checks)
    return Markup('<section id="checks"><h2>Checks</h2>\n<div class="scroll"><table id="checks-table"><thead><tr>'
                  '<th class="text">check</th><th class="text">verdict</th><th class="text">number</th>'
                  '<th class="text">what was checked</th></tr></thead><tbody>{}</tbody></table></div>'
                  '<p class="muted">Thresholds: <code>evaluation.checks.*</code> (docs/verdict.md). '
                  '<code>tumorbench evaluate --fail-on fail</code> exits non-zero when a check fails.</p>'
                  '</section>\n').format(rows)


# The Markdown headings of the checks' sections (GitHub-style anchors of report.md's `##` headings).
MARKDOWN_ANCHORS = {"comparison": "#comparison", "calibration": "#calibration", "audit": "#dataset-audit"}


def checks_markdown(checks: Sequence[Check], *, has_audit: bool = True) -> str:
    from tumorbench.rendering import markdown_text as _md

    def title(c: Check) -> str:
        anchor = MARKDOWN_ANCHORS.get(c.section)
        return f"[{_md(c.title)}]({anchor})" if anchor and (c.section != "audit" or has_audit) else _md(c.title)

    lines = ["## Checks", "", "| check | verdict | number | what was checked |", "|:---|:---|:---|:---|"]
    lines += [f"| {title(c)} | **{c.status.upper()}** | {_md(c.value)} | {_md(c.detail)} |" for c in checks]
    return "\n".join(lines) + "\n\n"


def _table_html(frame: pd.DataFrame, table_id: str) -> Markup:
    head = Markup("").join(Markup('<th class="text">{}</th>').format(c) for c in frame.columns)
    body = Markup("").join(
        Markup("<tr>{}</tr>").format(Markup("").join(Markup('<td class="text">{}</td>').format(_cell(v)) for v in row))
        for row in frame.itertuples(index=False))
    return Markup('<div class="scroll"><table id="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
                  ).format(table_id, head, body)


def _cell(value) -> str:
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def _table_markdown(frame: pd.DataFrame) -> str:
    from tumorbench.rendering import markdown_text as _md

    lines = ["| " + " | ".join(_md(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_md(_cell(v)) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _worst_frame(verdict: Verdict) -> pd.DataFrame:
    from tumorbench.evaluation.segments import DIMENSIONS

    rows = []
    for model, table in verdict.worst.items():
        for r in table.itertuples(index=False):
            rows.append({"model": model, "attribute": DIMENSIONS.get(r.dimension, r.dimension), "segment": r.segment,
                         "images": r.n, "errors": r.errors, "accuracy": r.accuracy,
                         "95% interval": f"{r.low:.3f}-{r.high:.3f}", "balanced accuracy": r.balanced_accuracy})
    return pd.DataFrame(rows, columns=["model", "attribute", "segment", "images", "errors", "accuracy",
                                       "95% interval", "balanced accuracy"])


def verdict_sections(verdict: Verdict):
    """The suspect-label and segment Sections of the report (after the per-run tables)."""
    from tumorbench.report_section import Section

    out = []
    issues = verdict.label_issues
    if issues is not None:
        shown = issues.head(SHOWN_ISSUES).copy()
        # The given label's probability spans decades (1e-5 ... 0.3): two significant digits, not 3 decimals.
        shown["label_quality"] = [f"{q:.2g}" if not pd.isna(q) else "n/a" for q in shown["label_quality"]]
        tiles = Markup("").join(
            Markup('<figure style="display:inline-block;margin:4px;width:{}px;vertical-align:top"><img alt="{}" '
                   'src="{}" style="width:{}px;height:{}px;object-fit:contain;background:#000"><figcaption '
                   'style="font-size:11px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap" title="{}">#{} '
                   '{} → {}</figcaption></figure>').format(
                THUMB_PX, r.image, verdict.thumbnails[r.image], THUMB_PX, THUMB_PX, r.image, r.rank, r.label,
                r.suggested)
            for r in issues.itertuples(index=False) if r.image in verdict.thumbnails)
        html = (Markup("<p>{} image(s) whose label is contradicted, ranked (all in <code>{}</code>). "
                       "{}</p>").format(len(issues), LABEL_ISSUES_FILE, verdict.label_note)
                + (Markup('<div id="label-issue-gallery">{}</div>').format(tiles) if tiles else Markup(""))
                + _table_html(shown, "label-issues-table"))
        markdown = (f"{len(issues)} image(s) whose label is contradicted, ranked (all in `{LABEL_ISSUES_FILE}`). "
                    f"{verdict.label_note}\n\n" + _table_markdown(shown))
    else:
        html = Markup("<p>{}</p>").format(verdict.label_note)
        markdown = verdict.label_note + "\n"
    out.append(Section(LABEL_ISSUES_TITLE, html, markdown,
                       warnings=[f"{len(issues)} suspect label(s): see '{LABEL_ISSUES_TITLE}'."]
                       if issues is not None and len(issues) else []))
    worst = _worst_frame(verdict)
    intro = (f"Per model, the segments of test images with the lowest accuracy (below the model's overall accuracy), "
             f"with their 95% bootstrap interval and size. {verdict.segment_note}")
    if len(worst):
        html, markdown = Markup("<p>{}</p>").format(intro) + _table_html(worst, "segments-table"), \
            intro + "\n\n" + _table_markdown(worst)
    else:
        html, markdown = Markup("<p>{} No segment is large enough and below the overall accuracy.</p>").format(intro), \
            intro + " No segment is large enough and below the overall accuracy.\n"
    out.append(Section(SEGMENTS_TITLE, html, markdown))
    return out


def section_anchors(sections: Sequence) -> dict[str, str]:
    """Anchors of the checks' sections in the report: the fixed ones, the audit's (at the top) and the
    externals' section when there is one."""
    anchors = dict(CHECK_ANCHORS)
    top = [s for s in sections if s.at_top]
    for i, s in enumerate(top, 1):
        if s.title == "Dataset audit":
            anchors["audit"] = f"#section-top-{i}"
    rest = [s for s in sections if not s.at_top]
    for i, s in enumerate(rest, 1):
        if "external" in s.title.lower():
            anchors["externals"] = f"#section-{i}"
    if anchors["externals"] == "#externals":
        anchors["externals"] = "#checks"
    return anchors

