"""Dataset audit: duplicates and near duplicates within and across splits, label conflicts, file
properties per class, and the shortcut check, before any score is trusted.

    from tumorbench.audit import audit_dataset, write_audit, duplicated_test_images
    audit = audit_dataset("data/sartaj")
    write_audit(audit, "runs/audit")  # audit.json, audit.html, audit.md
    # -> PosixPath('runs/audit/audit.html')
"""

from tumorbench.audit._cache import default_cache_dir
from tumorbench.audit.core import AUDIT_FILE, NEAR_THRESHOLD, audit_dataset, load_audit
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
    "NEAR_THRESHOLD",
    "audit_dataset",
    "audit_found_nothing",
    "audit_markdown",
    "audit_page_html",
    "audit_section_html",
    "audit_summary",
    "audit_warnings",
    "default_cache_dir",
    "duplicate_groups",
    "duplicated_test_images",
    "load_audit",
    "shortcut_sentence",
    "write_audit",
]
