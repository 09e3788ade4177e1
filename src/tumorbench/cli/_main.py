"""The `tumorbench` group: logging, the pixel limit, and the version; commands register themselves."""

from __future__ import annotations

import logging
import sys

import click

log = logging.getLogger("tumorbench")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose < 0 else logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tumorbench")
@click.option("-v", "--verbose", count=True, help="More log output (-v: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--max-pixels", metavar="N", help="Largest image decoded, in pixels (default 67108864 = 8192 x 8192, "
              "or $TUMORBENCH_MAX_PIXELS); larger files are skipped and listed like unreadable ones.")
def main(verbose: int, quiet: bool, max_pixels: str | None) -> None:
    """Train, evaluate and compare brain-tumour MRI classifiers (glioma, meningioma, no tumour,
    pituitary) and write benchmark reports."""
    _setup_logging(-1 if quiet else verbose)
    if max_pixels is not None:
        from tumorbench.data.images import set_max_pixels

        try:
            set_max_pixels(max_pixels)
        except ValueError as exc:
            raise click.BadParameter(str(exc).partition(": ")[2], param_hint="--max-pixels") from None
