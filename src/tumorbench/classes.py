"""The one source of truth for class names, their order and the folder names that map onto them.

The order is the seed notebook's label order. It is written into every checkpoint and every
predictions file; nothing else in the package spells the class names out again.
"""

from __future__ import annotations

import re

CLASS_NAMES: tuple[str, ...] = ("glioma", "meningioma", "no_tumor", "pituitary")

# Folder (or label) spellings seen in the public brain-MRI layouts, after normalisation by `_key`
# (lower case, separators removed). Sartaj's `glioma_tumor`, Masoud Nickparvar's `notumor`, the
# `Te-gl_0010.jpg` style prefixes, and the plain names all land on the canonical order above.
_ALIASES: dict[str, str] = {
    "glioma": "glioma",
    "gliomatumor": "glioma",
    "meningioma": "meningioma",
    "meningiomatumor": "meningioma",
    "notumor": "no_tumor",
    "notumour": "no_tumor",
    "normal": "no_tumor",
    "healthy": "no_tumor",
    "pituitary": "pituitary",
    "pituitarytumor": "pituitary",
    "pituitarytumour": "pituitary",
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name.strip().lower())


def accepted_names() -> list[str]:
    """Every folder spelling that `canonical_class` accepts (for error messages)."""
    spelled = {"glioma_tumor", "meningioma_tumor", "no_tumor", "notumor", "pituitary_tumor"}
    return sorted(set(CLASS_NAMES) | spelled | {"normal", "healthy"})


def canonical_class(name: str) -> str | None:
    """Map a folder or label name onto a canonical class name; None when it is not one.

    >>> canonical_class("glioma_tumor"), canonical_class("notumor"), canonical_class("cat")
    ('glioma', 'no_tumor', None)
    """
    return _ALIASES.get(_key(name))


def class_index(name: str) -> int:
    """Index of a canonical class name in CLASS_NAMES, with a clear error otherwise."""
    try:
        return CLASS_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown class {name!r}; valid classes: {', '.join(CLASS_NAMES)}") from None


def prob_column(name: str) -> str:
    """Column holding the probability of class `name` in a predictions file."""
    return f"prob_{name}"


PROB_COLUMNS: tuple[str, ...] = tuple(prob_column(c) for c in CLASS_NAMES)
