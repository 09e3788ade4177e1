"""Training speed when another process is busy: what OpenMP's wait policy costs or saves.

    python benchmarks/bench_threads.py                      # 32 px (the embedded run's CNN step), 8 s each
    python benchmarks/bench_threads.py --size 128 --seconds 15 --repeats 3

Trains the seed's Model 1 network (batch 16, Adam, random images: speed only) for a fixed time in a fresh
process per measurement and prints training steps per second, for each setting:

- `1 thread`;
- `N threads, spin`: OpenMP's default wait (GNU OpenMP spins 300,000 times at every barrier before it
  sleeps), what tumorbench did before it set a spin count (torch is imported before tumorbench here, so
  `tumorbench._env.bounded_openmp_spinning` leaves the environment alone);
- `N threads, GOMP_SPINCOUNT=10000`: what tumorbench sets now;
- `N threads, passive` (OMP_WAIT_POLICY=PASSIVE: waiting threads sleep at once);
- with `--spincounts`, other spin counts;

first on a quiet machine, then beside one busy process (a pure-Python loop: any other job on a core, such as a
second run or a test suite). N is the number of CPUs this process may use. Settings are interleaved within each
repeat and the median is printed, so a ratio is taken side by side. Nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time

from tumorbench._env import OPENMP_SPIN_COUNT

CHILD = textwrap.dedent("""
    import sys, time
    import torch  # before tumorbench: the wait policy is the one in this process's environment
    from tumorbench.models.seed_cnn import SeedCNN
    threads, size, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = SeedCNN(in_channels=1, size=size, num_classes=4)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.rand(16, 1, size, size), torch.randint(0, 4, (16,))
    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(5):
        step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    print(steps / (time.perf_counter() - start))
""")

BUSY = "while True: pass"


def measure(threads: int, env_vars: dict[str, str], size: int, seconds: float) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_vars)
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(size), str(seconds)], env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32, help="image size in pixels (default 32)")
    parser.add_argument("--seconds", type=float, default=8.0, help="training time per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spincounts", default="", help="also GNU OpenMP spin counts before sleeping, e.g. "
                        "1000,10000,100000 (its default is 300000; 0 is passive)")
    args = parser.parse_args()

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    settings = [("1 thread", 1, {}), (f"{cpus} threads, spin", cpus, {}),
                (f"{cpus} threads, GOMP_SPINCOUNT={OPENMP_SPIN_COUNT} (tumorbench)", cpus,
                 {"GOMP_SPINCOUNT": OPENMP_SPIN_COUNT}),
                (f"{cpus} threads, passive", cpus, {"OMP_WAIT_POLICY": "PASSIVE"})]
    settings += [(f"{cpus} threads, GOMP_SPINCOUNT={n}", cpus, {"GOMP_SPINCOUNT": n})
                 for n in args.spincounts.split(",") if n.strip() and n.strip() != OPENMP_SPIN_COUNT]
    print(f"seed Model 1 network, {args.size} px, batch 16; {cpus} CPUs; load {os.getloadavg()[0]:.2f} at start; "
          f"median of {args.repeats} x {args.seconds:.0f} s")
    rows = []
    for condition in ("quiet", "beside 1 busy process"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if condition != "quiet" else None
        try:
            if busy:
                time.sleep(1.0)  # let it take its core
            figures: dict[str, list[float]] = {name: [] for name, _, _ in settings}
            for _ in range(args.repeats):
                for name, threads, env_vars in settings:
                    figures[name].append(measure(threads, env_vars, args.size, args.seconds))
        finally:
            if busy:
                busy.kill()
                busy.wait()
        for name, _, _ in settings:
            rows.append((condition, name, statistics.median(figures[name]), figures[name]))

    print("\n| machine | setting | steps/s (median) | runs |\n|---|---|---:|---|")
    for condition, name, median, runs in rows:
        print(f"| {condition} | {name} | {median:.2f} | {', '.join(f'{r:.2f}' for r in runs)} |")


if __name__ == "__main__":
    main()
