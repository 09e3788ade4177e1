"""The numeric precisions a compute plan knows (`tumorbench.inference.compute` applies them). A light
module: the config and the CLI's --help read it without importing PyTorch."""

from __future__ import annotations

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
