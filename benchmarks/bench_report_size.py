"""The size of report.html, and what it is made of, for a run folder (rebuilt here, in a copy).

    python benchmarks/bench_report_size.py runs/sartaj-8

Builds the report of a copy of RUN_DIR twice, with plotly.js inline (the default: one file that works
offline) and from its CDN (`--plotly cdn`), and prints the size of each with its parts: the plotly.js
bundle, the gallery pictures (base64 JPEG), the figures' data and the rest (tables, text, CSS, scripts).
The run folder itself is not touched.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

from tumorbench.sections import write_full_report


def parts(html: str) -> dict[str, int]:
    from plotly.offline import get_plotlyjs

    bundle = len(get_plotlyjs()) if "* plotly.js v" in html else 0
    pictures = sum(len(m) for m in re.findall(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", html))
    figures = sum(len(m) for m in re.findall(r"<script[^>]*>\s*window\.PLOTLYENV.*?</script>", html, re.S))
    return {"plotly.js": bundle, "pictures": pictures, "figures": figures,
            "rest": len(html) - bundle - pictures - figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tb-report-size-") as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(args.run_dir, copy, ignore=shutil.ignore_patterns("checkpoint.pt", "figures", "calibrated"))
        models = sum(1 for p in (copy / "models").iterdir() if (p / "predictions_test.csv").is_file())
        print(f"{args.run_dir}: {models} models")
        print(f"{'plotly':8s} {'total MB':>9s} {'plotly.js':>10s} {'pictures':>9s} {'figures':>8s} {'rest':>7s} "
              f"{'build s':>8s}")
        for mode in ("inline", "cdn"):
            start = time.perf_counter()
            html = write_full_report(copy, plotly=mode).read_text(encoding="utf-8")
            seconds = time.perf_counter() - start
            p = {k: v / 1e6 for k, v in parts(html).items()}
            print(f"{mode:8s} {len(html.encode()) / 1e6:9.2f} {p['plotly.js']:10.2f} {p['pictures']:9.2f} "
                  f"{p['figures']:8.2f} {p['rest']:7.2f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
