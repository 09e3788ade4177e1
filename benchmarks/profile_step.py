"""Where a training step of the seed's Model 1 spends its time: op shares and the oneDNN kernels.

    python benchmarks/profile_step.py --sizes 128,256 --precision bf16
    python benchmarks/profile_step.py --sizes 128 --onednn     # also: which oneDNN kernels run

Shares of the step rather than seconds: on a loaded machine they move much less than absolute times.
The step is tumorbench's own (`train_one_epoch`, what `tumorbench run` calls each epoch, with its
micro-batches where the activations exceed the budget), after two warm-up steps; its phases are the
`record_function` ranges train_one_epoch marks (data, forward, backward, optimizer).

`--onednn` runs one more step with oneDNN's verbose log on (`torch.backends.mkldnn.verbose`) in a child
process and sums its lines by primitive, implementation and direction: `brg*:avx512_core_amx*` are the
AMX kernels; `jit:avx512_core_bf16` or `gemm:*` are not; `reorder` lines are layout changes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

BATCH = 32
PHASES = ("tb.data", "tb.forward", "tb.backward", "tb.optimizer")


def _setup(args):
    import numpy as np
    import torch

    from tumorbench.classes import CLASS_NAMES
    from tumorbench.config import make_config, resolve_model
    from tumorbench.data.arrays import ImageArrays
    from tumorbench.inference.compute import plan_compute
    from tumorbench.training.fit import build_network, make_optimizer, micro_batch_size, train_one_epoch
    from tumorbench.training.losses import make_loss

    config = make_config({"image_size": args.size, "train": {"batch_size": BATCH}, "models": [args.model],
                          "precision": args.precision})
    rm = resolve_model(config.models[0], config)
    compute = plan_compute(torch.device("cpu"), args.precision, threads=args.threads)
    compute.apply()
    training = compute.training()
    torch.manual_seed(0)
    net, phases, _, _ = build_network(rm)
    training.prepare_model(net)
    phase = phases[0]
    rng = np.random.default_rng(0)
    n = BATCH * args.steps
    x = torch.from_numpy(rng.integers(0, 256, (n, 1, args.size, args.size), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, len(CLASS_NAMES), n))
    data = ImageArrays(x, y, [str(i) for i in range(n)])
    loss_fn, _ = make_loss(rm.balance, y.numpy(), len(CLASS_NAMES))
    optimizer = make_optimizer(list(net.parameters()), rm, lr=1e-3)
    micro = micro_batch_size(phase, rm.preprocess.to_tensor(training.to_input(data.images(slice(0, 2)))),
                             BATCH, training)
    generator = torch.Generator().manual_seed(0)

    def run(part: ImageArrays) -> None:
        train_one_epoch(phase, part, None, loss_fn=loss_fn, optimizer=optimizer, rm=rm, rng=rng,
                        generator=generator, compute=training, desc="profile", micro_batch=micro)

    warm = ImageArrays(x[:2 * BATCH], y[:2 * BATCH], data.paths[:2 * BATCH])
    return run, warm, data, training, micro


def worker_profile(args) -> dict:
    from torch.profiler import ProfilerActivity, profile

    run, warm, data, plan, micro = _setup(args)
    run(warm)
    cpu = time.process_time()
    run(data)  # unprofiled: CPU seconds of the process (all threads), which load does not inflate much
    cpu = time.process_time() - cpu
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(data)
    wall = time.perf_counter() - started
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    phases = {e.key: e.cpu_time_total for e in events if e.key in PHASES}
    ops = sorted(((e.key, e.self_cpu_time_total, e.count) for e in events if e.key not in PHASES),
                 key=lambda t: -t[1])
    return {"setup": plan.describe() + (f", micro-batches of {micro}" if micro < BATCH else ""),
            "wall_s": wall, "cpu_s": cpu, "steps": args.steps, "total_us": total, "phases_us": phases,
            "ops": [(k, t, c) for k, t, c in ops[:args.top]]}


_LINE = re.compile(r"^onednn_verbose,(?:v1,)?(?:\d+\.?\d*,)?primitive,exec,cpu,([^,]+),([^,]+),([^,]+),(.*)$")


def worker_onednn(args) -> None:
    import torch

    run, warm, data, _, _ = _setup(args)
    run(warm)
    part = type(data)(data.x[:BATCH], data.y[:BATCH], data.paths[:BATCH])
    sys.stdout.flush()
    print("=== step ===", flush=True)
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        run(part)
    sys.stdout.flush()


def onednn_summary(log: str) -> list[tuple]:
    """(primitive, implementation, direction, calls, ms, a sample of the layouts) summed over one step."""
    rows: dict[tuple, list] = collections.defaultdict(lambda: [0, 0.0, ""])
    after = log.split("=== step ===", 1)[-1]
    for line in after.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        kind, impl, prop, rest = m.groups()
        fields = rest.split(",")
        try:
            ms = float(fields[-1])
        except ValueError:
            continue
        key = (kind, impl, prop)
        rows[key][0] += 1
        rows[key][1] += ms
        if not rows[key][2]:
            rows[key][2] = fields[0][:110] + " | " + fields[-2][:60]
    return sorted(((*k, v[0], v[1], v[2]) for k, v in rows.items()), key=lambda r: -r[4])


def _child(args, kind: str, size: int) -> str:
    cmd = [sys.executable, __file__, "--worker", kind, "--size", str(size), "--precision", args.precision,
           "--threads", str(args.threads), "--steps", str(args.steps), "--top", str(args.top), "--model", args.model]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return out.stdout


def main() -> None:
    from tumorbench.inference.compute import available_cpus, cpu_flags

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--model", default="model_1")
    parser.add_argument("--threads", type=int, default=available_cpus())
    parser.add_argument("--steps", type=int, default=3, help="Profiled steps of batch 32.")
    parser.add_argument("--top", type=int, default=25, help="Ops to list.")
    parser.add_argument("--onednn", action="store_true", help="Also sum oneDNN's verbose log over one step.")
    parser.add_argument("--worker", choices=("profile", "onednn"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "profile":
        print(json.dumps(worker_profile(args)))
        return
    if args.worker == "onednn":
        worker_onednn(args)
        return
    flags = [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in cpu_flags()]
    print(f"CPU flags: {' '.join(flags) or 'no bf16'}; load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for size in (int(s) for s in args.sizes.split(",")):
        res = json.loads(_child(args, "profile", size).strip().splitlines()[-1])
        total = res["total_us"]
        print(f"\n## {args.model} at {size} px, batch {BATCH}, {res['setup']}: {res['steps']} steps, "
              f"{res['wall_s'] / res['steps']:.2f} s/step under the profiler, "
              f"{res['cpu_s'] / res['steps']:.2f} CPU s/step without it (under load)\n")
        print("| phase (record_function) | share of the step |\n|---|---:|")
        for name in PHASES:
            print(f"| {name.removeprefix('tb.')} | {100 * res['phases_us'].get(name, 0) / total:.1f} % |")
        print("\n| op (self time) | calls per step | share of the step |\n|---|---:|---:|")
        for key, t, count in res["ops"]:
            print(f"| {key} | {count / res['steps']:.0f} | {100 * t / total:.1f} % |")
        if args.onednn:
            rows = onednn_summary(_child(args, "onednn", size))
            step_ms = sum(r[4] for r in rows)
            print(f"\n### oneDNN primitives over one step at {size} px ({step_ms:.0f} ms in oneDNN)\n")
            print("| primitive | implementation | direction | calls | share of oneDNN time | sample (layouts, shape) |")
            print("|---|---|---|---:|---:|---|")
            for kind, impl, prop, calls, ms, sample in rows:
                print(f"| {kind} | {impl} | {prop} | {calls} | {100 * ms / step_ms:.1f} % | `{sample}` |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
