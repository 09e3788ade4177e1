"""Compare every number of two metrics.json files (times, paths, dates and versions skipped):
`python benchmarks/compare_metrics.py BEFORE/metrics.json AFTER/metrics.json` prints how many differ."""

import json
import sys
from pathlib import Path

# Keys whose values legitimately differ between two runs of the same job.
SKIP = ("time", "seconds", "path", "dir", "root", "out", "created", "date", "host", "version", "commit",
        "elapsed", "_s")


def walk(a, b, where=""):
    """The places where two JSON values differ in a number (or in shape)."""
    diffs = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if any(s in k.lower() for s in SKIP):
                continue
            if k not in a or k not in b:
                diffs.append(f"{where}/{k}: only in one")
                continue
            diffs += walk(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} != {len(b)}"]
        for i, (x, y) in enumerate(zip(a, b)):
            diffs += walk(x, y, f"{where}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a != b:
        diffs.append(f"{where}: {a} != {b}")
    return diffs


if __name__ == "__main__":
    before, after = (json.loads(Path(f).read_text()) for f in sys.argv[1:3])
    found = walk(before, after)
    print(len(found), "numbers differ")
    print("\n".join(found[:20]))
