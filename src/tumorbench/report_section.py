"""An extra report section: its own module, so that the modules that build sections (the verdict, the
study, the audit) and the one that places them (build) need not import each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup


@dataclass
class Section:
    """An extra report section (dataset audit, imbalance study, ...), placed before the per-model parts.

    `html` is inserted as is, so it must be trusted, already escaped HTML (build it with a template that
    autoescapes); `markdown` is its report.md counterpart.
    """

    title: str
    html: Markup | str
    markdown: str = ""
    at_top: bool = False  # shown first, before the recommendation (the dataset audit: read it before any score)
    # What the section found that changes how to read the scores: listed in the report's "At a glance".
    warnings: list[str] = field(default_factory=list)
    collapsed: bool = False  # shown folded (<details>): it found nothing to worry about
