"""The audit as HTML (a report section and a standalone page), Markdown, and files on disk.

Every file and class name goes through jinja2's autoescaping; thumbnails are inlined as base64 PNG
data URIs so the page stays a single self-contained file.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup
from PIL import Image, ImageOps

from tumorbench._io import write_json, write_text
from tumorbench.classes import CLASS_NAMES
from tumorbench.data.folder import ALL_SPLITS as SPLITS  # a flat dataset's one split ("all") too

MAX_PAIRS_SHOWN = 24
MAX_ROWS_SHOWN = 50
MAX_LISTED = 10  # unreadable files named in the terminal summary
THUMB_PX = 96

_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def _kb(n: float | None) -> str:
    return "–" if n is None else f"{n / 1024:.0f}"


def thumbnail_uri(root: str | os.PathLike | None, rel: str, size: int = THUMB_PX) -> str | None:
    """A small PNG of `root/rel` as a data URI, or None when the file cannot be read."""
    if root is None:
        return None
    from tumorbench.data.images import DECODE_ERRORS, _to_mode, open_image

    try:
        with open_image(Path(root) / rel) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_mode(img, "RGB")
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
    except DECODE_ERRORS:
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


def _img(uri: str | None) -> Markup:
    """A thumbnail, or a black box of the same size when the file could not be read at report time."""
    if uri is None:
        return Markup('<span style="display:inline-block;width:{0}px;height:{0}px;background:#000"></span>').format(THUMB_PX)
    return Markup('<img alt="" src="{}">').format(uri)


_SECTION = _ENV.from_string("""
<div class="tb-audit">
<style>
.tb-audit table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
.tb-audit th, .tb-audit td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; vertical-align: top; }
.tb-audit th:first-child, .tb-audit td.name { text-align: left; }
.tb-audit .pairs { display: flex; flex-wrap: wrap; gap: 10px; margin: 0.5em 0 1em; }
.tb-audit .pair { width: {{ 2 * thumb + 16 }}px; border: 1px solid #ccc; padding: 4px; margin: 0; font-size: 0.8em; }
.tb-audit .pair img { width: {{ thumb }}px; height: {{ thumb }}px; object-fit: contain; background: #000; }
.tb-audit .warn { color: #a40000; font-weight: bold; }
.tb-audit .wide { overflow-x: auto; }
.tb-audit code { font-size: 0.9em; word-break: break-all; }
</style>
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
        audit=audit, s=_summary(audit), shortcut=shortcut_sentence(audit["shortcut"]),
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


_CROSS = _ENV.from_string("""
<div class="tb-audit">
<h3>Copies of {{ b_name }} in {{ a_name }}</h3>
<p>{{ sentence }}</p>
<table><tr><th>{{ b_name }} class</th><th>images</th><th>exact copy</th><th>near copy only</th><th>no copy</th>
{% for sp in a_splits %}<th>copy in {{ a_name }} {{ sp }}</th>{% endfor %}<th>label conflicts</th><th>{{ a_name }} labels of the copies</th></tr>
{% for c, v in cross.per_class.items() %}<tr><td class="name">{{ c }}</td><td>{{ v.n }}</td><td>{{ v.exact }}</td><td>{{ v.near }}</td><td>{{ v.none }}</td>
{% for sp in a_splits %}<td>{{ v.by_a_split.get(sp, {}).get('any', 0) }}</td>{% endfor %}<td>{{ v.label_conflicts }}</td>
<td class="name">{% for l, k in v.a_labels.items() %}{{ l }} ({{ k }}){{ ', ' if not loop.last }}{% endfor %}</td></tr>
{% endfor %}<tr><th>all</th><th>{{ t.n }}</th><th>{{ t.exact }}</th><th>{{ t.near }}</th><th>{{ t.none }}</th>
{% for sp in a_splits %}<th>{{ cross.per_a_split[sp].any }}</th>{% endfor %}<th>{{ t.label_conflicts }}</th><th></th></tr></table>
{% if pairs %}
<p>Copies side by side (left: {{ b_name }}, right: {{ a_name }}), label conflicts first, then the least similar near copies.</p>
<div class="pairs">
{% for p in pairs %}<figure class="pair">
{{ img(p.ta) }} {{ img(p.tb) }}
<figcaption><code>{{ p.b }}</code> (<b>{{ p.label_b }}</b>)<br><code>{{ p.a }}</code> ({{ p.split_a }}, <b>{{ p.label_a }}</b>)<br>{{ kind_names[p.kind] }}{% if p.kind == 'near' %}, distance {{ p.distance }}{% endif %}</figcaption></figure>
{% endfor %}</div>
{% if pairs_more %}<p>… and {{ pairs_more }} more, listed in {{ file }}.</p>{% endif %}
{% endif %}
<p><small>{{ cross.near_duplicates.method }}; threshold {{ cross.near_duplicates.threshold }} of
{{ cross.near_duplicates.hash_bits }} bits. A: <code>{{ cross.a.root }}</code>{% if cross.a.subset %} ({{ cross.a.n_images }} images given){% endif %};
B: <code>{{ cross.b.root }}</code>{% if cross.b.subset %} ({{ cross.b.n_images }} images given){% endif %}. Took {{ cross.timing_s.total }} s.</small></p>
</div>
""")

_KIND_NAMES = {"bytes": "identical bytes", "pixels": "identical pixels", "near": "near copy"}


def _names(cross: dict[str, Any]) -> tuple[str, str]:
    a, b = Path(cross["a"]["root"]).name or "A", Path(cross["b"]["root"]).name or "B"
    return (a, b) if a != b else (f"A ({a})", f"B ({b})")


def cross_sentence(cross: dict[str, Any]) -> str:
    """The cross-dataset audit's result in one sentence."""
    a_name, b_name = _names(cross)
    t = cross["totals"]
    copied = t["exact"] + t["near"]
    splits = "; ".join(f"{v['any']} in {sp}" for sp, v in cross["per_a_split"].items())
    text = (f"{copied} of {t['n']} {b_name} images ({_pct(copied, t['n'])}) have a copy in {a_name} ({t['exact']} exact, "
            f"{t['near']} near only{'; ' + splits if splits else ''}); {t['none']} have none.")
    if t["label_conflicts"]:
        text += f" {t['label_conflicts']} of them are filed under another class in {a_name} (label conflicts between the datasets)."
    if t["unreadable"]:
        text += f" {t['unreadable']} could not be read."
    return text


def _cross_pairs(cross: dict[str, Any]) -> list[dict[str, Any]]:
    """Label conflicts first, then the near copies from the least similar, one pair per B image."""
    conflicts = {(p["b"], p["a"]) for p in cross["label_conflicts"]}
    pairs = []
    for e in cross["images"]:
        if not e["matches"]:
            continue
        m = next((m for m in e["matches"] if (e["path"], m["path"]) in conflicts), e["matches"][0])
        pairs.append({"b": e["path"], "label_b": e["label"], "a": m["path"], "split_a": m["split"],
                      "label_a": m["label"], "kind": m["kind"], "distance": m["distance"],
                      "conflict": (e["path"], m["path"]) in conflicts})
    pairs.sort(key=lambda p: (not p["conflict"], -p["distance"], p["b"]))
    return pairs


def cross_section_html(cross: dict[str, Any]) -> Markup:
    """The cross-dataset audit as an HTML fragment (escaped; thumbnails from both dataset folders)."""
    from tumorbench.runfolder import CROSS_AUDIT_FILE

    a_name, b_name = _names(cross)
    roots = [r if Path(r).is_dir() else None for r in (cross["b"]["root"], cross["a"]["root"])]
    pairs = _cross_pairs(cross)
    shown = [{**p, "ta": thumbnail_uri(roots[0], p["b"]), "tb": thumbnail_uri(roots[1], p["a"])}
             for p in pairs[:MAX_PAIRS_SHOWN]]
    return Markup(_CROSS.render(
        cross=cross, t=cross["totals"], a_name=a_name, b_name=b_name, sentence=cross_sentence(cross),
        a_splits=list(cross["per_a_split"]), pairs=shown, pairs_more=max(0, len(pairs) - MAX_PAIRS_SHOWN),
        kind_names=_KIND_NAMES, img=_img, file=CROSS_AUDIT_FILE))


def cross_markdown(cross: dict[str, Any]) -> str:
    """The cross-dataset audit in Markdown: the sentence and the table per B class."""
    a_name, b_name = _names(cross)
    splits = list(cross["per_a_split"])
    lines = [f"## Copies of {b_name} in {a_name}", "", cross_sentence(cross), "",
             (f"| {b_name} class | images | exact | near only | no copy | "
              + "".join(f"in {a_name} {sp} | " for sp in splits) + "label conflicts |"),
             "|---|" + "---:|" * (5 + len(splits))]
    for c, v in cross["per_class"].items():
        lines.append(f"| `{c}` | {v['n']} | {v['exact']} | {v['near']} | {v['none']} | "
                     + "".join(f"{v['by_a_split'].get(sp, {}).get('any', 0)} | " for sp in splits)
                     + f"{v['label_conflicts']} |")
    near = cross["near_duplicates"]
    lines += ["", (f"Near copies: pHash distance <= {near['threshold']} of {near['hash_bits']} bits, as in the "
                   "within-dataset audit.")]
    return "\n".join(lines) + "\n"


def cross_summary(cross: dict[str, Any]) -> str:
    """A few lines for the terminal: copies per B class, and per A split."""
    a_name, b_name = _names(cross)
    lines = [cross_sentence(cross)]
    lines += [f"  {c:12s} {v['exact'] + v['near']:5d} of {v['n']:5d} with a copy ({v['exact']} exact, {v['near']} near; "
              f"{v['none']} without; {v['label_conflicts']} label conflicts)"
              + (f"; {a_name} labels: " + ", ".join(f"{k} {n}" for k, n in v["a_labels"].items()) if v["a_labels"] else "")
              for c, v in cross["per_class"].items()]
    for sp, v in cross["per_a_split"].items():
        lines.append(f"  copies in {a_name} {sp}: {v['any']} {b_name} images ({v['exact']} exact, {v['near']} near only)")
    for side, name in (("b", b_name), ("a", a_name)):
        bad = cross[side]["unreadable"]
        lines += [f"  unreadable in {name}: {u['path']}: {u['reason']}" for u in bad[:MAX_LISTED]]
        if len(bad) > MAX_LISTED:
            lines.append(f"  ... and {len(bad) - MAX_LISTED} more unreadable in {name}, listed in cross_audit.json")
    return "\n".join(lines)


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
