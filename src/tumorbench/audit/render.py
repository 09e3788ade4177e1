"""The audit as HTML (a report section and a standalone page), Markdown, and files on disk; the
cross-dataset audit's own rendering is in `_cross_render.py` (its functions importable from here too).

Every file and class name goes through jinja2's autoescaping; thumbnails are inlined as base64 PNG
data URIs so the page stays a single self-contained file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from markupsafe import Markup

from tumorbench._io import write_json, write_text
from tumorbench.audit._cross_render import cross_markdown, cross_section_html, cross_sentence, cross_summary
from tumorbench.audit._render_parts import (
    _ENV,
    _STYLE,
    MAX_PAIRS_SHOWN,
    MAX_ROWS_SHOWN,
    THUMB_PX,
    _img,
    _kb,
    _pct,
    thumbnail_uri,
)
from tumorbench.classes import CLASS_NAMES
from tumorbench.data.folder import ALL_SPLITS as SPLITS  # a flat dataset's one split ("all") too

__all__ = ["audit_found_nothing", "audit_markdown", "audit_page_html", "audit_section_html", "audit_summary",
           "audit_warnings", "cross_markdown", "cross_section_html", "cross_sentence", "cross_summary",
           "shortcut_sentence", "thumbnail_uri", "write_audit"]


def shortcut_sentence(shortcut: dict[str, Any]) -> str:
    """The shortcut check's result in plain words."""
    if shortcut.get("accuracy") is None:
        return f"Shortcut check not run: {shortcut.get('skipped', 'not enough labelled images')}."
    acc, base = shortcut["accuracy"], shortcut["majority_baseline"]
    head = (f"A classifier that sees no pixels, only each file's width, height, aspect ratio, colour mode, "
            f"format and size, predicts the class with {acc:.0%} accuracy ({shortcut['n_folds']}-fold "
            f"cross-validation, duplicates kept within one fold), against {base:.0%} for always answering "
            f"the most common class ({shortcut['majority_class']}).")
    if shortcut["leak"]:
        names = {"width": "image width", "height": "image height", "aspect": "aspect ratio",
                 "file_size": "file size", "mode": "colour mode", "format": "file format"}
        per = shortcut["per_property"]
        leaks = ", ".join(f"{names[p]} ({per[p]['accuracy']:.0%} alone)" for p in shortcut["leaks"])
        recall = shortcut.get("recall", {})
        best = max(recall, key=recall.get) if recall else None
        tail = (f" The file properties give the label away: {leaks or 'only in combination'}."
                + (f" The class recognised best from them is {best} ({recall[best]:.0%} of its images)."
                   if best else "")
                + " A model can score well by learning these instead of the anatomy: compare the image "
                  "sizes per class and split below, and resize or re-encode the images uniformly.")
        return head + tail
    if acc > base + 0.02:
        return head + " That is a little above the baseline, not a strong shortcut."
    return head + " No file property gives the label away."


def _summary(audit: dict[str, Any]) -> dict[str, Any]:
    cross = audit.get("cross_split", {})
    test = cross.get("test~train")
    n_test = sum(audit.get("class_counts", {}).get("test", {}).values()) if "test" in audit.get("class_counts", {}) else 0
    dup = audit.get("test_duplicates", [])
    n_exact = sum(1 for d in dup if d["kind"] == "exact")
    n_near = len(dup) - n_exact
    return {"n_test": n_test, "dup": len(dup), "exact": n_exact, "near": n_near,
            "clean": n_test - len(dup), "has_test": test is not None or n_test > 0}


_SECTION = _ENV.from_string("""
<div class="tb-audit">
{{ style }}
<p>{{ audit.n_images }} images in {{ audit.class_counts | length }} split(s) of
<code>{{ audit.root }}</code>.
{% if s.has_test %}
<span class="{{ 'warn' if s.dup else '' }}">{{ s.dup }} of {{ s.n_test }} test images ({{ pct(s.dup, s.n_test) }})
have a duplicate in training or validation ({{ s.exact }} exact, {{ s.near }} near only)</span>:
the de-duplicated test split keeps {{ s.clean }} images.
{% endif %}
<span class="{{ 'warn' if audit.label_conflicts else '' }}">{{ audit.label_conflicts | length }} label conflict(s)</span>.
{{ audit.unreadable | length }} unreadable file(s).</p>
<p class="{{ 'warn' if audit.shortcut.leak else '' }}">{{ shortcut }}</p>

<h3>Class counts</h3>
<table><tr><th>class</th>{% for sp in splits %}<th>{{ sp }}</th>{% endfor %}</tr>
{% for c in classes %}<tr><td class="name">{{ c }}</td>{% for sp in splits %}<td>{{ audit.class_counts[sp].get(c, 0) }}</td>{% endfor %}</tr>
{% endfor %}</table>

<h3>Duplicates across splits</h3>
<p>Images of the later split that have an exact duplicate (identical bytes or identical decoded pixels)
in the earlier split, or only a near duplicate (pHash distance &le; {{ audit.near_duplicates.threshold }}
of {{ audit.near_duplicates.hash_bits }} bits).</p>
{% for key, block in audit.cross_split.items() %}
<table><tr><th>{{ key.replace('~', ' vs ') }}: class</th><th>images</th><th>exact</th><th>near only</th><th>duplicated</th></tr>
{% for c, v in block.per_class.items() %}<tr><td class="name">{{ c }}</td><td>{{ v.n }}</td><td>{{ v.exact }}</td><td>{{ v.near }}</td><td>{{ pct(v.exact + v.near, v.n) }}</td></tr>
{% endfor %}<tr><th>all</th><th>{{ block.images.n }}</th><th>{{ block.images.exact }}</th><th>{{ block.images.near }}</th><th>{{ pct(block.images.exact + block.images.near, block.images.n) }}</th></tr></table>
{% else %}<p>Only one split: no cross-split comparison.</p>
{% endfor %}
<h3>Duplicates within a split</h3>
<table><tr><th>split: class</th><th>images</th><th>with an exact copy</th><th>with a near copy only</th></tr>
{% for sp, per in audit.within_split.items() %}{% for c, v in per.items() %}<tr><td class="name">{{ sp }}: {{ c }}</td><td>{{ v.n }}</td><td>{{ v.exact }}</td><td>{{ v.near }}</td></tr>
{% endfor %}{% endfor %}</table>
<p>Pairs by kind and split pair:
{% for key, v in audit.pair_counts.items() %}{{ key.replace('~', '/') }}: {{ v.bytes }} identical bytes, {{ v.pixels }} identical pixels, {{ v.near }} near{{ '; ' if not loop.last else '.' }}{% else %}none.{% endfor %}</p>

<h3>Near-duplicate pairs</h3>
{% if near %}
<p>Each pair side by side (left: first image, right: its near duplicate), closest first, pairs across splits before pairs within one.</p>
<div class="pairs">
{% for p in near %}<figure class="pair">
{{ img(p.ta) }} {{ img(p.tb) }}
<figcaption><code>{{ p.a }}</code> ({{ p.split_a }}, {{ p.label_a }})<br><code>{{ p.b }}</code> ({{ p.split_b }}, {{ p.label_b }})<br>distance {{ p.distance }}</figcaption></figure>
{% endfor %}</div>
{% if near_more %}<p>… and {{ near_more }} more pair(s), listed in audit.json.</p>{% endif %}
{% else %}<p>None found.</p>{% endif %}

<h3>Label conflicts</h3>
{% if conflicts %}
<div class="pairs">
{% for p in conflicts %}<figure class="pair">
{{ img(p.ta) }} {{ img(p.tb) }}
<figcaption><code>{{ p.a }}</code> ({{ p.split_a }}, <b>{{ p.label_a }}</b>)<br><code>{{ p.b }}</code> ({{ p.split_b }}, <b>{{ p.label_b }}</b>)<br>{{ kind_names[p.kind] }}{% if p.kind == 'near' %}, distance {{ p.distance }}{% endif %}</figcaption></figure>
{% endfor %}</div>
{% if conflicts_more %}<p>… and {{ conflicts_more }} more, listed in audit.json.</p>{% endif %}
{% else %}<p>None found.</p>{% endif %}

<h3>File properties per split and class</h3>
<div class="wide"><table><tr><th>split: class</th><th>images</th><th>most common sizes (w x h)</th><th>distinct sizes</th>
<th>width min / median / max</th><th>height min / median / max</th><th>aspect min / median / max</th>
<th>file size KB min / median / max</th><th>colour modes</th><th>formats</th></tr>
{% for sp, per in audit.properties.items() %}{% for c, v in per.items() %}<tr><td class="name">{{ sp }}: {{ c }}</td><td>{{ v.n }}</td>
<td class="name">{% for size, k in v.top_sizes %}{{ size }} ({{ k }}){{ ', ' if not loop.last }}{% endfor %}</td><td>{{ v.n_distinct_sizes }}</td>
<td>{{ rng(v.width) }}</td><td>{{ rng(v.height) }}</td><td>{{ rng(v.aspect, 2) }}</td><td>{{ rng_kb(v.file_size) }}</td>
<td class="name">{% for m, k in v.modes.items() %}{{ m }} ({{ k }}){{ ', ' if not loop.last }}{% endfor %}</td>
<td class="name">{% for m, k in v.formats.items() %}{{ m }} ({{ k }}){{ ', ' if not loop.last }}{% endfor %}</td></tr>
{% endfor %}{% endfor %}</table></div>

<h3>Shortcut check</h3>
{% if audit.shortcut.accuracy is not none %}
<table><tr><th>properties used</th><th>cross-validated accuracy</th><th>leaks the label</th></tr>
<tr><td class="name">all</td><td>{{ '%.1f %%' % (100 * audit.shortcut.accuracy) }}</td><td>{{ 'yes' if audit.shortcut.leak else 'no' }}</td></tr>
{% for p, v in audit.shortcut.per_property.items() %}<tr><td class="name">{{ p.replace('_', ' ') }} alone</td><td>{{ '%.1f %%' % (100 * v.accuracy) }}</td><td>{{ 'yes' if v.leak else 'no' }}</td></tr>
{% endfor %}<tr><td class="name">majority class ({{ audit.shortcut.majority_class }})</td><td>{{ '%.1f %%' % (100 * audit.shortcut.majority_baseline) }}</td><td></td></tr></table>
{% endif %}

{% if audit.unreadable %}
<h3>Unreadable files</h3>
<table><tr><th>file</th><th>reason</th></tr>
{% for u in audit.unreadable[:max_rows] %}<tr><td class="name"><code>{{ u.path }}</code></td><td class="name">{{ u.reason }}</td></tr>
{% endfor %}</table>
{% if audit.unreadable | length > max_rows %}<p>… and {{ audit.unreadable | length - max_rows }} more, listed in audit.json.</p>{% endif %}
{% endif %}
<p><small>Near-duplicate method: {{ audit.near_duplicates.method }}; threshold {{ audit.near_duplicates.threshold }}
of {{ audit.near_duplicates.hash_bits }} bits. Exact duplicates: BLAKE2b of the file bytes, and of the decoded
pixels. Audit took {{ audit.timing_s.total }} s ({{ audit.cache.hits }} files from the cache).</small></p>
</div>
""")

_PAGE = _ENV.from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 75em; padding: 0 1em; }</style>
</head><body><h1>{{ title }}</h1>
{{ section }}
</body></html>
""")


def _range_text(r: dict[str, float] | None, digits: int = 0) -> str:
    if not r:
        return "–"
    return " / ".join(f"{r[k]:.{digits}f}" for k in ("min", "median", "max"))


def _range_kb(r: dict[str, float] | None) -> str:
    if not r:
        return "–"
    return " / ".join(_kb(r[k]) for k in ("min", "median", "max"))


def _with_thumbs(pairs: list[dict[str, Any]], root: str | os.PathLike | None) -> list[dict[str, Any]]:
    return [{**p, "ta": thumbnail_uri(root, p["a"]), "tb": thumbnail_uri(root, p["b"])} for p in pairs]


def audit_section_html(audit: dict[str, Any], root: str | os.PathLike | None = None) -> Markup:
    """The audit as an HTML fragment for the benchmark report (escaped, self-contained).

    `root` is the dataset folder for the thumbnails; default the folder recorded in the audit. When
    the files cannot be read there, the pairs are listed without thumbnails.
    """
    root = audit.get("root") if root is None else root
    if root is not None and not Path(root).is_dir():
        root = None
    near = audit["near_duplicates"]["pairs"]
    conflicts = audit["label_conflicts"]
    splits = [s for s in SPLITS if s in audit["class_counts"]]
    classes = list(audit.get("classes") or CLASS_NAMES)  # audits written before class sets had the four
    html = _SECTION.render(
        audit=audit, s=_summary(audit), shortcut=shortcut_sentence(audit["shortcut"]), style=Markup(_STYLE),
        splits=splits, classes=classes, pct=_pct, rng=_range_text, rng_kb=_range_kb,
        near=_with_thumbs(near[:MAX_PAIRS_SHOWN], root), near_more=max(0, len(near) - MAX_PAIRS_SHOWN),
        conflicts=_with_thumbs(conflicts[:MAX_PAIRS_SHOWN], root),
        conflicts_more=max(0, len(conflicts) - MAX_PAIRS_SHOWN),
        kind_names={"bytes": "identical bytes", "pixels": "identical pixels", "near": "near duplicate"},
        thumb=THUMB_PX, max_rows=MAX_ROWS_SHOWN, img=_img,
    )
    return Markup(html)


def audit_markdown(audit: dict[str, Any]) -> str:
    """A short Markdown version of the section (for report.md)."""
    s = _summary(audit)

    def name(text: str) -> str:
        return "`" + str(text).replace("`", "'") + "`"

    lines = [f"{audit['n_images']} images; {len(audit['label_conflicts'])} label conflict(s); "
             f"{len(audit['unreadable'])} unreadable file(s)."]
    if s["has_test"]:
        lines.append(f"{s['dup']} of {s['n_test']} test images ({_pct(s['dup'], s['n_test'])}) have a duplicate "
                     f"in training or validation ({s['exact']} exact, {s['near']} near only); the de-duplicated "
                     f"test split keeps {s['clean']} images.")
    lines += ["", shortcut_sentence(audit["shortcut"]), ""]
    for key, block in audit["cross_split"].items():
        lines += [f"| {key.replace('~', ' vs ')}: class | images | exact | near only |", "|---|---:|---:|---:|"]
        for c, v in block["per_class"].items():
            lines.append(f"| {name(c)} | {v['n']} | {v['exact']} | {v['near']} |")
        lines.append("")
    lines.append(f"Near duplicates: pHash distance <= {audit['near_duplicates']['threshold']} of "
                 f"{audit['near_duplicates']['hash_bits']} bits; {len(audit['near_duplicates']['pairs'])} pair(s).")
    if audit["unreadable"]:
        lines += ["", "Unreadable files (left out of every split):", "", "| file | reason |", "|---|---|"]
        lines += [f"| {name(u['path'])} | {str(u['reason']).replace('|', '/')} |"
                  for u in audit["unreadable"][:MAX_ROWS_SHOWN]]
        if len(audit["unreadable"]) > MAX_ROWS_SHOWN:
            lines.append(f"\n... and {len(audit['unreadable']) - MAX_ROWS_SHOWN} more, listed in audit.json.")
    return "\n".join(lines) + "\n"


def audit_summary(audit: dict[str, Any]) -> str:
    """A few lines of plain text for the terminal: duplicates across splits per class, label
    conflicts, unreadable files and the shortcut check."""
    lines = [f"{audit['n_images']} images, "
             + "; ".join(f"{sp}: {sum(c.values())}" for sp, c in audit["class_counts"].items())]
    for key, block in audit["cross_split"].items():
        later, earlier = key.split("~")
        tot = block["images"]
        lines.append(f"{later} images with a duplicate in {earlier}: {tot['exact'] + tot['near']} of {tot['n']} "
                     f"({tot['exact']} exact, {tot['near']} near only; threshold "
                     f"{audit['near_duplicates']['threshold']} of {audit['near_duplicates']['hash_bits']} bits)")
        lines += [f"  {c:12s} {v['exact'] + v['near']:5d} of {v['n']:5d}  ({v['exact']} exact, {v['near']} near)"
                  for c, v in block["per_class"].items()]
    lines.append(f"label conflicts: {len(audit['label_conflicts'])}; unreadable files: {len(audit['unreadable'])}")
    lines.append(shortcut_sentence(audit["shortcut"]))
    return "\n".join(lines)


def audit_warnings(audit: dict[str, Any]) -> list[str]:
    """What the audit found that changes how to read the scores, one sentence each (the report's "At a
    glance" lists them): label conflicts, a file-property shortcut, unreadable files. Duplicates of
    test images in training are left to the report, which states them with the de-duplicated scores."""
    warnings = []
    conflicts = len(audit.get("label_conflicts") or [])
    if conflicts:
        warnings.append(f"The dataset audit found {conflicts} label conflict(s): the same image filed under two "
                        "classes, so some answers cannot be right whatever the model does.")
    shortcut = audit.get("shortcut") or {}
    if shortcut.get("leak"):
        warnings.append(f"File properties give the label away ({shortcut['accuracy']:.0%} accuracy from image size, "
                        "format and file size alone, see the dataset audit): a model may score by them, not the anatomy.")
    unreadable = len(audit.get("unreadable") or [])
    if unreadable:
        warnings.append(f"{unreadable} image file(s) could not be read and are in no split.")
    return warnings


def audit_found_nothing(audit: dict[str, Any]) -> bool:
    """No duplicate across splits, no label conflict, no shortcut, no unreadable file: the report folds
    the audit away."""
    across = sum(b["images"]["exact"] + b["images"]["near"] for b in (audit.get("cross_split") or {}).values())
    return not across and not audit_warnings(audit)


def audit_page_html(audit: dict[str, Any], root: str | os.PathLike | None = None, *,
                    cross: dict[str, Any] | None = None) -> str:
    """A standalone HTML page of the audit (and, given `cross`, of the copies of another dataset in it)."""
    section = audit_section_html(audit, root)
    if cross is not None:
        section = cross_section_html(cross) + section
    return _PAGE.render(title=_title(audit), section=section)


def _title(audit: dict[str, Any]) -> str:
    return f"tumorbench dataset audit: {Path(audit.get('root', 'dataset')).name}"


def write_audit(audit: dict[str, Any], out_dir: str | os.PathLike, *, root: str | os.PathLike | None = None,
                cross: dict[str, Any] | None = None) -> Path:
    """Write `audit.json`, `audit.md` and a standalone `audit.html` (last) into `out_dir`; returns the
    HTML path. Given a cross-dataset audit (`cross_audit`), also `cross_audit.json`, and a section on
    the copies in the page and the Markdown."""
    from tumorbench.runfolder import AUDIT_FILE, AUDIT_HTML, AUDIT_MD, CROSS_AUDIT_FILE

    out_dir = Path(out_dir)
    write_json(out_dir / AUDIT_FILE, audit)
    markdown = audit_markdown(audit)
    if cross is not None:
        write_json(out_dir / CROSS_AUDIT_FILE, cross)
        markdown = f"{cross_markdown(cross)}\n## {Path(audit.get('root', 'dataset')).name}\n\n{markdown}"
    write_text(out_dir / AUDIT_MD, f"# {_title(audit)}\n\n{markdown}")
    return write_text(out_dir / AUDIT_HTML, audit_page_html(audit, root, cross=cross))
