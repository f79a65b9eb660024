"""A faster CPU training path for 1-D max-pooling under bfloat16 autocast.

PyTorch computes ``max_pool1d`` with indices (needed for the gradient) through the 2-D kernel
on a ``(N, C, 1, L)`` view in the contiguous (channels-first) layout, which is slow on CPU.
The same pooling on a channels-last ``(N, 1, L, C)``-ordered copy runs the vectorised
channels-last kernel (``python -m benchmarks.cpu_paths`` times both: the performance page's
table of the CPU paths).

:class:`MaxPool1d` uses it only while training under CPU autocast (the values are the same;
where a window holds equal maxima the gradient may go to another of them, as a different
kernel may choose). Float32 training, inference, export and CUDA keep ``nn.MaxPool1d``'s path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def use_channels_last_pool(x: Tensor) -> bool:
    """Whether :class:`MaxPool1d` should pool ``x`` in the channels-last layout."""
    return (
        x.device.type == "cpu"
        and x.dim() == 3
        and torch.is_autocast_enabled("cpu")
        and torch.is_grad_enabled()
        and x.requires_grad
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
    )


class ChannelsLastMaxPool1d(torch.autograd.Function):
    """``max_pool1d`` of a ``(N, C, L)`` tensor computed on a channels-last copy; output and
    gradient in the contiguous layout again (the layers around it are slow on channels-last
    views: ReLU's and the convolution's backward took 3-10x longer on them)."""

    @staticmethod
    def forward(ctx, x: Tensor, size: int, stride: int, padding: int, dilation: int) -> Tensor:
        x2 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        params = ([1, size], [1, stride], [0, padding], [1, dilation], False)
        y, indices = torch.ops.aten.max_pool2d_with_indices(x2, *params)
        ctx.save_for_backward(x2, indices)
        ctx.params = params
        return y.squeeze(2).contiguous()

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x2, indices = ctx.saved_tensors
        g2 = grad_out.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        gx = torch.ops.aten.max_pool2d_with_indices_backward(g2, x2, *ctx.params, indices)
        return gx.squeeze(2).contiguous(), None, None, None, None


class MaxPool1d(nn.MaxPool1d):
    """``nn.MaxPool1d`` that pools channels-last while training under CPU autocast."""

    def forward(self, x: Tensor) -> Tensor:
        if not use_channels_last_pool(x) or self.return_indices or self.ceil_mode:
            return super().forward(x)
        return ChannelsLastMaxPool1d.apply(
            x, int(self.kernel_size), int(self.stride), int(self.padding), int(self.dilation)
        )
