"""The errors the Python API raises for bad input: typed, with the one-line message the CLI prints.

The library below raises ValueError and OSError with messages that name the file, the value and the
fix; the API re-raises them as these types (still ValueError / OSError, so existing `except` clauses
keep working), and the CLI prints their message as one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class TumorbenchError(Exception):
    """Base of every error `tumorbench`'s API raises for bad input; `str(error)` is the whole message."""


class InvalidInputError(TumorbenchError, ValueError):
    """An option, config value, dataset, model or predictions file is invalid (the message says which and
    how to fix it)."""


class InputNotFoundError(TumorbenchError, FileNotFoundError):
    """A file or folder that was given does not exist."""


class InputReadError(TumorbenchError, OSError):
    """A file or folder that was given cannot be read or written."""


@contextlib.contextmanager
def typed_errors() -> Iterator[None]:
    """Re-raise the library's ValueError/OSError as the API's typed errors, with the same message.

    The original exception stays reachable as `error.original`; it is not chained, so a notebook shows
    the message, not the library's internals."""
    try:
        yield
    except TumorbenchError:
        raise
    except FileNotFoundError as exc:
        raise _typed(InputNotFoundError, exc) from None
    except ValueError as exc:
        raise _typed(InvalidInputError, exc) from None
    except OSError as exc:
        raise _typed(InputReadError, exc) from None


def _typed(cls: type[TumorbenchError], exc: Exception) -> TumorbenchError:
    error = cls(str(exc))
    error.original = exc  # type: ignore[attr-defined]
    return error
