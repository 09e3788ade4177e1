"""Dataset audit: duplicates and near duplicates within and across splits, label conflicts, file
properties per class, and the shortcut check, before any score is trusted.

    from tumorbench.audit import audit_dataset, write_audit, duplicated_test_images
    audit = audit_dataset("data/sartaj")
    write_audit(audit, "runs/audit")  # audit.json, audit.html, audit.md
    # -> PosixPath('runs/audit/audit.html')
    cross = cross_audit("data/sartaj", "data/figshare")  # copies of figshare's images in Sartaj
    write_audit(audit, "runs/audit", cross=cross)  # + cross_audit.json and a section in the page
"""

from tumorbench.audit._cache import default_cache_dir
from tumorbench.audit._cross_render import cross_markdown, cross_section_html, cross_sentence, cross_summary
from tumorbench.audit.core import AUDIT_FILE, NEAR_THRESHOLD, audit_dataset, load_audit
from tumorbench.audit.cross import (
    CROSS_AUDIT_FILE,
    copies_in,
    cross_audit,
    external_copies,
    label_relation,
    load_cross_audit,
)
from tumorbench.audit.dedup import duplicate_groups, duplicated_test_images
from tumorbench.audit.render import (
    audit_found_nothing,
    audit_markdown,
    audit_page_html,
    audit_section_html,
    audit_summary,
    audit_warnings,
    shortcut_sentence,
    write_audit,
)

__all__ = [
    "AUDIT_FILE",
    "CROSS_AUDIT_FILE",
    "NEAR_THRESHOLD",
    "audit_dataset",
    "audit_found_nothing",
    "audit_markdown",
    "audit_page_html",
    "audit_section_html",
    "audit_summary",
    "audit_warnings",
    "copies_in",
    "cross_audit",
    "cross_markdown",
    "cross_section_html",
    "cross_sentence",
    "cross_summary",
    "default_cache_dir",
    "duplicate_groups",
    "duplicated_test_images",
    "external_copies",
    "label_relation",
    "load_audit",
    "load_cross_audit",
    "shortcut_sentence",
    "write_audit",
]
