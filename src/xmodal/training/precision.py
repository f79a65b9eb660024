"""Numeric precision of training: which one ``auto`` means here, and the autocast around it.

``training.precision`` (``--precision``) is one of :data:`~xmodal.config.PRECISIONS`:

* ``fp32``: plain float32 throughout;
* ``bf16``: forward passes under ``torch.autocast`` with bfloat16 (CPU or CUDA);
* ``fp16``: float16 autocast with a gradient scaler; CUDA only;
* ``auto``: bf16 on a CPU with bfloat16 instructions (``avx512_bf16`` or ``amx_bf16`` among
  the flags of ``/proc/cpuinfo``), fp32 on other CPUs; on CUDA bf16 where the GPU supports it,
  else fp16.

Parameters always stay float32 (autocast casts per operation), losses are computed on float32
logits, and metrics and saved weights are float32.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from xmodal.config import PRECISIONS, TrainConfig
from xmodal.errors import ConfigError

#: CPU flags (``/proc/cpuinfo``) of bfloat16 arithmetic in hardware
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def read_cpuinfo() -> str:
    """The text of ``/proc/cpuinfo``; empty where there is none (not Linux)."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (a flag of :data:`BF16_CPU_FLAGS`)."""
    flags: set[str] = set()
    for line in read_cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """The precision ``requested`` means on ``device``: ``fp32``, ``bf16`` or ``fp16``.

    Raises
    ------
    ConfigError
        An unknown name, or fp16 on a CPU (CPU autocast has no loss scaling; use bf16).
    """
    device = torch.device(device)
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}; valid: {', '.join(PRECISIONS)}")
    if device.type != "cuda":
        if requested == "fp16":
            raise ConfigError(
                "precision 'fp16' needs a CUDA device; on the CPU use bf16, fp32 or auto"
            )
        if requested == "auto":
            return "bf16" if cpu_supports_bf16() else "fp32"
        return requested
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


def autocast_context(
    precision: str, device: torch.device | str
) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for a resolved ``bf16``/``fp16``; a no-op context for ``fp32``."""
    if precision not in _DTYPES:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (bfloat16 has float32's range: a disabled scaler otherwise)."""
    device = torch.device(device)
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def training_precision(training: TrainConfig, device: torch.device | str) -> str:
    """The resolved precision of a run's training settings on ``device``; ``amp = false``
    (the older switch) makes ``auto`` mean fp32."""
    requested = training.precision
    if requested == "auto" and not training.amp:
        requested = "fp32"
    return resolve_precision(requested, device)
