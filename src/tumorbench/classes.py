"""The one source of truth for class names, their order and the folder names that map onto them.

A dataset's classes come from its folders: known spellings map onto the canonical names below (`map_class`),
other names are kept as they are (`yes`, `no`, `tumor`), and a class map (`--class-map yes=tumor,no=no_tumor`)
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


def class_index(name: str, classes: tuple[str, ...] | list[str] = CLASS_NAMES) -> int:
    """Index of class `name` in `classes` (default: the seed's four), with a clear error otherwise."""
    try:
        return list(classes).index(name)
    except ValueError:
        raise ValueError(f"unknown class {name!r}; valid classes: {', '.join(classes)}") from None


# A class name is also a column suffix (`prob_<class>`), a CSV cell, a metrics key (`glioma.recall`) and
# a file name part: letters, digits, '_' and '-' only, so none of them needs quoting or splits it.
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_class_name(name: str, *, where: str, folder: str | None = None) -> str:
    """`name` when it can be a class name (see _VALID_NAME), else a ValueError naming `where` and the fix
    (for a class `folder`, the class map entry that renames it)."""
    if not isinstance(name, str) or not _VALID_NAME.fullmatch(name):
        fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_-") or "my_class"
        fix = (f"rename it with a class map, e.g. --class-map '{folder}={fixed}' (config: class_map: "
               f"{{'{folder}': {fixed}}})" if folder is not None else f"e.g. {fixed}")
        raise ValueError(f"{where}: class name {name!r} cannot be used (it becomes the predictions column "
                         f"prob_<class>): use letters, digits, '_' and '-' only; {fix}")
    return name


def map_class(name: str) -> str:
    """The class a folder or label name means: its canonical name when it is a known spelling, else the
    name as it is (`yes`, `tumor`).

    >>> map_class("glioma_tumor"), map_class("yes")
    ('glioma', 'yes')
    """
    return canonical_class(name) or name


def parse_class_map(value, *, where: str = "--class-map") -> dict[str, str]:
    """A class map (folder name -> class) from `"yes=tumor,no=no_tumor"`, a list of such items or a
    mapping. Values are class names (known spellings become canonical: `no=notumor` means no_tumor);
    ValueError naming `where` for an empty, repeated or unusable entry.

    >>> parse_class_map("yes=tumor, no=notumor")
    {'yes': 'tumor', 'no': 'no_tumor'}
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        # YAML 1.1 reads the bare keys yes/no (the binary datasets' folders) as true/false.
        items = [({True: "yes", False: "no"}.get(k, k) if isinstance(k, bool) else k, v) for k, v in value.items()]
    else:
        parts = value.split(",") if isinstance(value, str) else list(value)
        items = []
        for part in parts:
            if not isinstance(part, str) or "=" not in part:
                raise ValueError(f"{where}: {part!r} is not FOLDER=CLASS; write e.g. yes=tumor,no=no_tumor")
            folder, _, cls = part.partition("=")
            items.append((folder, cls))
    out: dict[str, str] = {}
    for folder, cls in items:
        folder = folder.strip() if isinstance(folder, str) else folder
        cls = cls.strip() if isinstance(cls, str) else cls
        if not isinstance(folder, str) or not folder or not isinstance(cls, str) or not cls:
            raise ValueError(f"{where}: entry {folder!r}: {cls!r} needs a folder name and a class name, "
                             "e.g. yes=tumor")
        if folder in out:
            raise ValueError(f"{where}: folder {folder!r} is mapped twice; keep one entry")
        out[folder] = check_class_name(map_class(cls), where=f"{where} ({folder}={cls})")
    return out


def prob_column(name: str) -> str:
    """Column holding the probability of class `name` in a predictions file."""
    return f"prob_{name}"


# The probability columns of a four-class (seed) model's file only; any other model's are its own
# (`tumorbench.predictions.io.frame_classes` / `prob_columns`).
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
