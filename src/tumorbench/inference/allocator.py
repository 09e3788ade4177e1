"""Keep freed memory in the process, so large tensors do not cost page faults on every allocation.

glibc's malloc serves every block above 128 kB-32 MB with a fresh `mmap` and returns it to the kernel on
`free`. A CNN at 256 px allocates and frees activations of 30-70 MB in every layer of every batch, so
each one is first-touched page by page again: on a 2-core Sapphire Rapids the seed CNN's bf16 ReLU over
a (8, 64, 252, 252) tensor took 29 ms with fresh pages and 9 ms with reused ones, and a whole training
epoch at 256 px ran 1.56x faster (benchmarks/bench_speed.py, docs/performance-bf16.md). TensorFlow and
jemalloc/tcmalloc (what Intel's PyTorch guides preload) keep such blocks; this does the same with glibc's
own switches, set once per process through `mallopt` (the `MALLOC_MMAP_MAX_` and `MALLOC_TRIM_THRESHOLD_`
environment variables, set before Python starts, do the same):

- no `mmap` for large blocks (`M_MMAP_MAX = 0`): they come from the heap and are reused after `free`;
- no trimming of the heap's top (`M_TRIM_THRESHOLD` very large): freed memory stays mapped.

The cost is that the process keeps its high-water mark of memory until it exits (the run's peak RSS is
unchanged or a little higher; it is not returned between models). `TUMORBENCH_ALLOCATOR=system` keeps
glibc's defaults. Elsewhere (macOS, Windows, musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import platform

log = logging.getLogger(__name__)

ENV_VAR = "TUMORBENCH_ALLOCATOR"
_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int: 2 GB of free heap top before any trim, i.e. practically never


@functools.cache  # once per process: the switches are process-wide
def keep_freed_memory() -> bool:
    """Switch glibc's malloc to reusing freed large blocks; True when it is in effect."""
    choice = os.environ.get(ENV_VAR, "reuse").strip().lower()
    if choice == "system":
        return False
    if choice != "reuse":
        log.warning("%s=%r is not a choice (reuse, system); keeping freed memory (reuse)", ENV_VAR, choice)
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; True only when both switches took.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
