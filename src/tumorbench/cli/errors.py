"""The friendly-error mapping: bad input ends with one clear message (file, value, fix), never a traceback."""

from __future__ import annotations

import functools

import click


def friendly_errors(fn):
    """Bad input ends with one clear message (file, value, fix), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            # Said for every command: files already written are whole (atomic writes); only a
            # training run has something to resume.
            raise click.ClickException("interrupted; every file already written is complete (an interrupted "
                                       "`tumorbench run` is finished with --resume and the same --out)") from None

    return wrapper
