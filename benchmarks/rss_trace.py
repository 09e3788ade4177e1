"""Peak memory of a command: run it, sample its resident set size every 0.2 s, print its log lines with the
peak so far, and the peak; stop it after SECONDS (0: let it finish).

    python benchmarks/rss_trace.py 300 tumorbench run --data PATH --models model_1 --image-size 256 \
        --epochs 1 --set threads=1 --out /tmp/rss

What issue #12's memory figures in the README were measured with (old code: PYTHONPATH=OLD/src and
`python -m tumorbench.cli run ...` instead of `tumorbench run`). Linux only (reads /proc). The process's
own RSS is counted, not its children's: `tumorbench run` trains in-process with the default executor.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    seconds, command = float(sys.argv[1]), sys.argv[2:]
    start = time.monotonic()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    peak = 0

    def echo_log() -> None:  # each log line with the peak reached before it
        for line in process.stderr:
            print(f"{time.monotonic() - start:7.1f} s, peak so far {peak / 2**30:.2f} GB | {line.rstrip()[:150]}",
                  flush=True)

    reader = threading.Thread(target=echo_log, daemon=True)
    reader.start()
    while process.poll() is None and (seconds <= 0 or time.monotonic() - start < seconds):
        try:
            peak = max(peak, rss_bytes(process.pid))
        except OSError:  # the process ended between poll() and the read
            break
        time.sleep(0.2)
    stopped = process.poll() is None
    if stopped:
        process.kill()
    process.wait()
    reader.join(timeout=5)
    print(f"PEAK RSS {peak / 2**30:.2f} GB after {time.monotonic() - start:.0f} s"
          f"{' (stopped)' if stopped else f', exit code {process.returncode}'}")


if __name__ == "__main__":
    main()
