"""The cross-dataset audit (`cross_audit`: copies of dataset B's images in A) as an HTML section,
Markdown, a sentence and the terminal summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from tumorbench.audit._render_parts import (
    _ENV,
    _STYLE,
    MAX_LISTED,
    MAX_PAIRS_SHOWN,
    _img,
    _pct,
    thumbnail_uri,
)

_CROSS = _ENV.from_string("""
<div class="tb-audit">
{{ style }}
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
        cross=cross, t=cross["totals"], style=Markup(_STYLE), a_name=a_name, b_name=b_name,
        sentence=cross_sentence(cross),
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
