"""The one jinja2 environment every rendered page uses: the report, the imbalance study, the external test
sets, the audit and the notebook summaries.

Templates are found by package: `report/report.html.j2`, `study/imbalance.md.j2`, `crossdata/gap.html.j2`
(files under tumorbench/<package>/templates/); templates held as strings go through `from_string`. HTML is
always escaped (names of files, models and classes come from the data); a Markdown template is written as it
is (the study's turns escaping on itself, as it always had it). The shared filters format numbers and intervals
(`num`, `ci`, `vci`, `bracket`) and escape text for Markdown (`md`).

    from tumorbench.rendering import ENVIRONMENT
    ENVIRONMENT.get_template("report/report.md.j2").render(**context)

Pages written against other whitespace or undefined-variable rules keep them through overlays of this
environment, which share its loader, filters and escaping: `SECTIONS` (study, external sets, audit: a
missing variable renders empty, no trailing newline kept) and `SUMMARIES` (notebook summaries: whitespace
as written).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jinja2

_PACKAGE = Path(__file__).resolve().parent
TEMPLATE_PACKAGES = ("report", "study", "crossdata")  # each with a templates/ folder


def number(value, digits: int = 3) -> str:
    """'0.731', or n/a for a missing or NaN value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def interval(cell: dict) -> str:
    """'0.687–0.774' (empty when the cell has no interval)."""
    if cell is None or cell.get("low") is None:
        return ""
    return f"{number(cell['low'], cell['digits'])}–{number(cell['high'], cell['digits'])}"


def with_interval(cell: dict) -> str:
    """'0.731 [0.687, 0.774]' for Markdown."""
    if cell is None:
        return "n/a"
    text = number(cell["value"], cell["digits"])
    if cell.get("low") is not None:
        text += f" [{number(cell['low'], cell['digits'])}, {number(cell['high'], cell['digits'])}]"
    return text


def markdown_text(text) -> str:
    """Escape text from the data for Markdown: no markup, no raw HTML, no table breaks."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Underscores inside words (no_tumor) do not start emphasis in CommonMark, so they stay readable.
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text).replace("\n", " ")


def _autoescape(name: str | None) -> bool:
    # Strings (audit, notebook summaries) are HTML. (The study's Markdown template turns escaping on itself,
    # `{% autoescape true %}`, as it always had it.)
    return name is None or name.endswith(".html.j2")


ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PrefixLoader({p: jinja2.FileSystemLoader(_PACKAGE / p / "templates") for p in TEMPLATE_PACKAGES}),
    autoescape=_autoescape,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENVIRONMENT.filters.update(
    num=number,
    ci=interval,
    vci=with_interval,
    bracket=lambda ci: f"[{number(ci[0])}, {number(ci[1])}]" if ci else "",
    md=markdown_text,
)
SECTIONS = ENVIRONMENT.overlay(undefined=jinja2.Undefined, keep_trailing_newline=False)
SUMMARIES = ENVIRONMENT.overlay(trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=False)
