"""How a model runs on this machine: device, numeric precision, memory layout and CPU threads.

Chosen once per run by measurement-backed rules, applied the same way in training, validation and
prediction, and recorded in every model's info (`ComputePlan.describe()`, e.g. "cpu fp32 channels_last
2 threads" or "cuda amp bf16 channels_last"):

- Memory layout: channels-last (NHWC) activations on the CPU and on CUDA. oneDNN's convolutions work
  in that layout natively, so PyTorch's default NCHW pays a reorder before and after every convolution
  (measured on a 2-core AVX2 EPYC, interleaved A/B: seed CNN inference 1.4x faster at 64 and 128 px,
  training within 10 % either way; see benchmarks/bench_speed.py). The weights keep their shapes and
  names, so checkpoints are the same. Training on a CPU without BF16 stays in NCHW: there oneDNN's
  channels-last weight-gradient kernel (jit:avx2) is the slow one (profiled: 2-2.5x the forward time)
  and the seed CNN at 256 px trained at half the speed of NCHW (0.6 against 1.2 images/s).
- Precision: bfloat16 autocast on a CPU with native BF16 instructions (AVX-512 BF16 or AMX), where it
  pays (not for networks with depthwise convolutions: `ComputePlan.for_network`); float32 everywhere
  else, since without those instructions bf16 is emulated and slower than fp32. On a CUDA GPU
  automatic mixed precision: bf16 where the GPU supports it, else fp16 with a gradient scaler.
  `precision: fp32` turns it off.
- Threads: one intra-op thread per CPU this process may use (its affinity mask), unless set.
- Memory: on the CPU freed blocks are kept for reuse (tumorbench.inference.allocator).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tumorbench.inference.allocator import keep_freed_memory
from tumorbench.inference.precision import PRECISIONS

log = logging.getLogger(__name__)

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# Evaluation keeps no activations for backward, so small inputs go in large batches (fewer Python round
# trips). Large inputs do not: the seed CNN at 256 px holds ~24 MB of live activations per image, so a
# batch of 32 added 1.0 GB to the peak RSS of a Sartaj run (measured: +1.02 GB at 32, +0.39 GB at 8, at
# the same images per second). This many input pixels per batch: 8 images at 256 px, 32 at 128 px.
EVAL_PIXELS_PER_BATCH = 1 << 19


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (x86 AVX-512 BF16 or AMX, Arm BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"})


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ComputePlan:
    """Where and how forward and backward passes run (see the module docstring for the rules)."""

    device: torch.device
    precision: str  # "fp32", "bf16" or "fp16": the autocast dtype of forward passes ("fp32": none)
    channels_last: bool  # 4-D activations in NHWC memory order (evaluation and prediction)
    threads: int  # PyTorch intra-op CPU threads
    train_channels_last: bool | None = None  # the layout of training steps; None: as `channels_last`
    auto_precision: bool = False  # `precision` was chosen by `auto`, so a network may differ (for_network)

    def describe(self) -> str:
        """One line for info.json and the report, e.g. 'cpu fp32 channels_last 2 threads'."""
        precision = self.precision if self.device.type == "cpu" or self.precision == "fp32" else f"amp {self.precision}"
        layout = "channels_last" if self.channels_last else "NCHW"
        if self.training().channels_last != self.channels_last:
            layout = f"{layout} ({'channels_last' if self.training().channels_last else 'NCHW'} training)"
        threads = f" {self.threads} thread{'s' if self.threads != 1 else ''}" if self.device.type == "cpu" else ""
        return f"{self.device.type} {precision} {layout}{threads}"

    def training(self) -> ComputePlan:
        """The plan of training steps (its layout may differ from evaluation's)."""
        if self.train_channels_last is None or self.train_channels_last == self.channels_last:
            return self
        return dataclasses.replace(self, channels_last=self.train_channels_last, train_channels_last=None)

    def for_network(self, model: nn.Module) -> ComputePlan:
        """The plan for one network. An automatic bf16 on the CPU stays fp32 for networks with depthwise
        convolutions (EfficientNet, MobileNet): there bf16 was the slower, measured on a Sapphire Rapids
        with AMX: the embedded run's EfficientNet-Lite0 fine-tuning took 15.8-17.0 s in bf16 and 13.0 s
        in fp32, while the seed CNN and small_resnet (no depthwise convolutions) train 1.5x faster in
        bf16. Training, validation and prediction all ask this, so a checkpoint predicts in the
        precision it was trained in. An explicit `precision: bf16` is kept."""
        if not (self.auto_precision and self.device.type == "cpu" and self.precision == "bf16"):
            return self
        depthwise = any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels
                        for m in model.modules())
        return dataclasses.replace(self, precision="fp32") if depthwise else self

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context forward passes run in: autocast to the plan's dtype, or nothing for fp32."""
        return self._autocast(enabled=True)

    def no_grad(self) -> contextlib.AbstractContextManager:
        """The gradient mode of forward passes with no backward (validation, prediction): inference mode,
        except under autocast, where inference mode also turns off autocast's cache of bf16 weight copies
        (every batch, and every use of a weight within one, would cast it again: measured, 5 casts of
        the dense weight for 5 batches in inference mode, 1 under no_grad)."""
        return torch.inference_mode() if self.precision == "fp32" else torch.no_grad()

    def step_scope(self) -> contextlib.AbstractContextManager:
        """The context around all micro-batches of one training step, or all batches of one prediction
        (forward passes inside it still run in `autocast()`): it keeps autocast's cache of bf16 weight
        copies alive across them, so each weight is cast once per step or prediction instead of once per
        batch (it paid 6 % of a seed CNN step at 256 px while its 30 M dense weights ran in bf16; the
        transfer backbones' weights gain the same way). Autocast itself is off in it, so the backward
        passes run as without it. Leave it before the optimizer's step: the cached copies are of the
        weights before the update."""
        return self._autocast(enabled=False)

    def _autocast(self, *, enabled: bool) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_DTYPES[self.precision], enabled=enabled)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move the model to the device in the plan's memory layout (in place; returns it)."""
        return model.to(device=self.device, memory_format=self.memory_format)

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the device in the plan's layout. Pass uint8 before scaling: a quarter of the bytes
        to move, and the layout change of uint8 is cheap."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None

    def eval_batch_size(self, size: int) -> int:
        """Batch size for validation and prediction: as many images as EVAL_PIXELS_PER_BATCH allows (at
        most 512), which is more than training's at small sizes and fewer at large ones (memory)."""
        return max(1, min(512, EVAL_PIXELS_PER_BATCH // (size * size)))

    def apply(self) -> None:
        """Set this process up for the plan: its intra-op threads and, on the CPU, an allocator that keeps
        freed memory (tumorbench.inference.allocator: large tensors reuse pages instead of faulting in new
        ones, 1.5x a training epoch at 256 px)."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if self.device.type == "cpu":
            keep_freed_memory()


def plan_compute(device: torch.device, precision: str = "auto", *, threads: int | None = None) -> ComputePlan:
    """The plan for `device`; `precision` is auto, fp32, bf16 or fp16, `threads` None for one per CPU."""
    precision = (precision or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    threads = int(threads) if threads else available_cpus()
    if device.type == "cuda":
        if precision == "auto":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return ComputePlan(device, precision, channels_last=True, threads=threads)
    if device.type != "cpu":
        # MPS and other back ends: keep PyTorch's defaults, which are what they are tested with.
        return ComputePlan(device, "fp32" if precision == "auto" else precision, False, threads)
    if precision == "fp16":
        raise ValueError("precision fp16 needs a CUDA GPU; on the CPU use auto, fp32 or bf16")
    native_bf16 = cpu_has_native_bf16()
    auto = precision == "auto"
    if auto:
        precision = "bf16" if native_bf16 else "fp32"
    elif precision == "bf16" and not native_bf16:
        log.warning("precision bf16 on a CPU without native BF16 instructions: emulated, slower than fp32")
    return ComputePlan(device, precision, channels_last=True, threads=threads, train_channels_last=native_bf16,
                       auto_precision=auto)
