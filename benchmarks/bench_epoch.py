"""Wall time of training epochs: prints a table of seconds per epoch and images per second.

    python benchmarks/bench_epoch.py --data ../shared/datasets/sartaj --sizes 128,256 --model model_1

Each size trains `--epochs` epochs of one model into a temporary run folder (decode time is shown
apart: it is paid once per run and preprocessing spec, not per epoch).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TUMORBENCH_OFFLINE", "1")

from tumorbench.config import make_config  # noqa: E402
from tumorbench.run import run_benchmark  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--model", default="model_1")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(f"{'model':10s} {'size':>5s} {'train imgs':>10s} {'epoch s':>8s} {'img/s':>7s} {'total s':>8s}")
    for size in (int(s) for s in args.sizes.split(",")):
        config = make_config({"image_size": size, "train": {"epochs": args.epochs}, "models": [args.model]})
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            out = run_benchmark(config, data_root=Path(args.data), out=Path(tmp) / "run")
            total = time.perf_counter() - started
            history = json.loads((out / "models" / args.model / "history.json").read_text())
            info = json.loads((out / "models" / args.model / "info.json").read_text())
        for seconds in history["seconds"]:
            print(f"{args.model:10s} {size:5d} {info['train_images']:10d} {seconds:8.1f} "
                  f"{info['train_images'] / seconds:7.1f} {total:8.1f}", flush=True)


if __name__ == "__main__":
    main()
