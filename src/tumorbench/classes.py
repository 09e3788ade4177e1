"""The one source of truth for class names, their order and the folder names that map onto them.

A dataset's classes come from its folders: known spellings map onto the canonical names below, other
names are kept as they are (`yes`, `no`, `tumor`), and a class map (`--class-map yes=tumor,no=no_tumor`)
renames the rest. CLASS_NAMES, the seed notebook's four in its label order, is the default order where
those classes are present. A model's class list is written into its checkpoint and its predictions
files and is the truth from then on; nothing else in the package spells the class names out again.
"""

from __future__ import annotations

import re

CLASS_NAMES: tuple[str, ...] = ("glioma", "meningioma", "no_tumor", "pituitary")

# The binary view (tumour vs no tumour) of any class set: these classes count as "tumour", NO_TUMOR as
# "no tumour"; a class in neither (a user's `cat`) leaves the binary view undefined for that class set.
NO_TUMOR = "no_tumor"
TUMOR = "tumor"  # the binary datasets' positive class, after a class map such as yes=tumor
TUMOR_CLASSES: frozenset[str] = frozenset({"glioma", "meningioma", "pituitary", TUMOR})

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


def is_tumor(name: str) -> bool | None:
    """True for a tumour class, False for no tumour, None when the name says neither.

    >>> is_tumor("glioma"), is_tumor("no_tumor"), is_tumor("tumor"), is_tumor("cat")
    (True, False, True, None)
    """
    if name == NO_TUMOR:
        return False
    return True if name in TUMOR_CLASSES else None


def order_classes(names) -> tuple[str, ...]:
    """A class set in its one order: the seed's classes first, in CLASS_NAMES order, then any other
    names sorted.

    >>> order_classes(["pituitary", "glioma", "meningioma"])
    ('glioma', 'meningioma', 'pituitary')
    >>> order_classes(["yes", "no_tumor", "no"])
    ('no_tumor', 'no', 'yes')
    """
    names = set(names)
    return tuple(c for c in CLASS_NAMES if c in names) + tuple(sorted(names - set(CLASS_NAMES)))
