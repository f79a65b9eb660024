"""Length alignment of feature maps as a fixed linear map over time.

Streams sampled at different rates have feature maps of different lengths. Before two streams
are combined the source map is brought to the target length:

* upsampling (or equal length): linear interpolation, identical to
  ``F.interpolate(x, size, mode="linear", align_corners=False)``;
* downsampling: adaptive average pooling, identical to ``F.adaptive_avg_pool1d(x, size)``
  (averaging every source sample of a target bin, so nothing is skipped or aliased).

Both are linear in time, so the alignment is stored as a ``(source_length, target_length)``
matrix and applied with one matmul. That keeps ``forward`` free of shape-dependent branches and
exports unchanged to TorchScript and ONNX (adaptive pooling to a length that does not divide the
input has no ONNX equivalent).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def alignment_matrix(source_length: int, target_length: int) -> Tensor:
    """Matrix ``M`` with ``x @ M`` = ``x`` (..., source_length) aligned to ``target_length``.

    Parameters
    ----------
    source_length, target_length : int
        Positive lengths.

    Returns
    -------
    Tensor
        float32, shape (source_length, target_length); each column sums to 1.
    """
    if source_length < 1 or target_length < 1:
        raise ValueError(f"lengths must be positive, got {source_length} -> {target_length}")
    m = torch.zeros(source_length, target_length, dtype=torch.float64)
    if target_length >= source_length:
        # linear interpolation, align_corners=False (half-pixel centres, clamped at the edges)
        scale = source_length / target_length
        for t in range(target_length):
            pos = max((t + 0.5) * scale - 0.5, 0.0)
            lo = min(int(math.floor(pos)), source_length - 1)
            hi = min(lo + 1, source_length - 1)
            frac = pos - lo
            m[lo, t] += 1.0 - frac
            m[hi, t] += frac
    else:
        # adaptive average pooling: bin t covers [floor(t*S/T), ceil((t+1)*S/T))
        for t in range(target_length):
            start = (t * source_length) // target_length
            end = -((-(t + 1) * source_length) // target_length)
            m[start:end, t] = 1.0 / (end - start)
    return m.to(torch.float32)


def align(x: Tensor, length: int) -> Tensor:
    """Align ``x`` (batch, channels, time) to ``length`` time steps (see module docstring)."""
    if x.shape[-1] == length:
        return x
    return torch.matmul(x, alignment_matrix(x.shape[-1], length).to(x.device, x.dtype))


class Align(nn.Module):
    """Fixed alignment from ``source_length`` to ``target_length`` (identity when equal).

    Parameters
    ----------
    source_length, target_length : int
        Lengths of the input and output time axes.
    """

    def __init__(self, source_length: int, target_length: int) -> None:
        super().__init__()
        self.source_length = int(source_length)
        self.target_length = int(target_length)
        self.identity = self.source_length == self.target_length
        matrix = None if self.identity else alignment_matrix(self.source_length, self.target_length)
        # derived from the lengths, so not saved in state_dict
        self.register_buffer("matrix", matrix, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, channels, source_length) -> (batch, channels, target_length)."""
        if self.identity:
            return x
        return torch.matmul(x, self.matrix)

    def extra_repr(self) -> str:
        return f"{self.source_length} -> {self.target_length}"
