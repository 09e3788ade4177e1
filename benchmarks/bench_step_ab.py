"""Side-by-side ratios of training-step variants of the seed's Model 1, interleaved in one process.

    python benchmarks/bench_step_ab.py --size 256 --variants micro=4,micro=auto --repeats 6
    python benchmarks/bench_step_ab.py --size 128 --variants adam=foreach,adam=fused

Each variant has its own network and optimizer, built from the same seed; their epochs of `--steps`
steps (batch 32, `train_one_epoch`, what `tumorbench run` calls) run in turn, A B A B ..., so a
machine's load falls on all of them alike. Printed: the median per-image wall time and CPU time (all
threads of the process) of each, and the median of the pairwise ratios to the first variant, which is
the figure to read on a busy machine.

Variants (comma-separated, each `key=value`; keys combine with `+`, e.g. `adam=fused+micro=auto`):
    micro=auto|N        micro-batch size (auto: `micro_batch_size`, what fit() uses)
    adam=foreach|fused|plain   the Adam implementation
    precision=bf16|fp32 the compute plan's precision
    layout=cl|nchw      the training layout
    compile=1           torch.compile (inductor) on the network; its first epoch, which compiles, is timed apart
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

BATCH = 32


def build(spec: dict, size: int, steps: int, threads: int):
    import numpy as np
    import torch

    from tumorbench.classes import CLASS_NAMES
    from tumorbench.config import make_config, resolve_model
    from tumorbench.data.arrays import ImageArrays
    from tumorbench.inference.compute import plan_compute
    from tumorbench.training.fit import build_network, micro_batch_size, train_one_epoch
    from tumorbench.training.losses import make_loss

    config = make_config({"image_size": size, "train": {"batch_size": BATCH}, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    compute = plan_compute(torch.device("cpu"), spec.get("precision", "auto"), threads=threads)
    if "layout" in spec:
        compute = dataclasses.replace(compute, train_channels_last=spec["layout"] == "cl")
    compute.apply()
    training = compute.training()
    torch.manual_seed(0)
    net, phases, _, _ = build_network(rm)
    training.prepare_model(net)
    phase = phases[0]
    adam = spec.get("adam", "foreach")
    kwargs = {"fused": True} if adam == "fused" else {"foreach": adam == "foreach", "fused": False}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, **kwargs)
    rng = np.random.default_rng(0)
    n = BATCH * steps
    x = torch.from_numpy(rng.integers(0, 256, (n, 1, size, size), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, len(CLASS_NAMES), n))
    data = ImageArrays(x, y, [str(i) for i in range(n)])
    loss_fn, _ = make_loss("none", y.numpy(), len(CLASS_NAMES))
    micro = spec.get("micro", "auto")
    micro = (micro_batch_size(phase, rm.preprocess.to_tensor(training.to_input(x[:2])), BATCH, training)
             if micro == "auto" else int(micro))
    if spec.get("compile") == "1":
        phase.trainable = torch.compile(phase.trainable)
    generator = torch.Generator().manual_seed(0)

    def epoch() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        train_one_epoch(phase, data, None, loss_fn=loss_fn, optimizer=optimizer, rm=rm, rng=rng,
                        generator=generator, compute=training, desc="ab", micro_batch=micro)
        return time.perf_counter() - wall, time.process_time() - cpu

    return epoch, micro, n


def parse(variant: str) -> dict:
    return dict(part.split("=", 1) for part in variant.split("+") if part)


def main() -> None:
    import os

    from tumorbench.inference.compute import available_cpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--variants", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=available_cpus())
    args = parser.parse_args()
    names = args.variants.split(",")
    runs = {}
    for name in names:
        epoch, micro, n = build(parse(name), args.size, args.steps, args.threads)
        wall, _ = epoch()  # warm-up (and compiling, for compile=1)
        runs[name] = (epoch, micro, n, wall, [])
    for _ in range(args.repeats):
        for name in names:
            runs[name][4].append(runs[name][0]())
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\n{args.size} px, batch {BATCH}, {args.steps} steps x {args.repeats} interleaved repeats, "
          f"{args.threads} threads; load average at the end {load} (under load)\n")
    print("| variant | micro-batch | warm-up s | ms/image wall | ms/image CPU | wall vs first | CPU vs first |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    first = runs[names[0]][4]
    for name in names:
        _, micro, n, warm, times = runs[name]
        wall = statistics.median(t[0] for t in times) * 1e3 / n
        cpu = statistics.median(t[1] for t in times) * 1e3 / n
        r_wall = statistics.median(a[0] / b[0] for a, b in zip(times, first))
        r_cpu = statistics.median(a[1] / b[1] for a, b in zip(times, first))
        print(f"| {name} | {micro} | {warm:.1f} | {wall:.1f} | {cpu:.1f} | {r_wall:.2f}x | {r_cpu:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
