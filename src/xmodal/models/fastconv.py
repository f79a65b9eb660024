"""A faster CPU training path for 'same'-padded 1-D convolutions with wide kernels.

Profiling the paper-size ECG stream (kernels 32/16/8, 32-128 channels, 2560 samples) on a
2-core CPU showed the forward convolution (oneDNN) running near the matmul peak, but PyTorch's
float32 ``convolution_backward`` several times slower than the forward for kernels of 16 and
32. Both gradients of a convolution are themselves
convolutions, which oneDNN's *forward* kernel computes fast:

* grad_input  = conv1d(pad(grad_out, (right, left)), flip(W).transpose(0, 1))
* grad_weight = conv1d(x_pad.transpose(0, 1), grad_out.transpose(0, 1)) -- the batch becomes
  the reduction ("channel") axis and the channels the batch, giving ``(C_in, C_out, k)``

:class:`SameConv1dFunction` uses these (grad_weight only for kernels >= ``WIDE_KERNEL``, where
it wins; the native kernel otherwise). The values equal ``nn.Conv1d``'s within float32
rounding (summation order differs); ``tests/test_models.py`` checks 1e-5.

The function is used only on CPU while gradients are recorded and the model is not being
traced (:func:`use_fast_path`); inference, export and CUDA keep the native convolution.

Under ``torch.autocast`` (bfloat16 training, ``--precision bf16``) :func:`same_conv1d` casts
its inputs to the autocast dtype as autocast casts those of ``conv1d``, and forward and
backward run in bfloat16. oneDNN's bfloat16 kernels differ from its float32 ones, so the path
is chosen per kernel size there: grad_input as a convolution for kernels >=
:data:`LOW_PRECISION_FAST_KERNEL` whose input needs a gradient, the native kernel for kernels
of 8, and grad_weight always from the native kernel; float32 training is unchanged.
``python -m benchmarks.cpu_paths`` measures every one of these choices per layer against its
alternative (the performance page's table of the CPU paths); on its committed run grad_weight
as a convolution was faster in bfloat16 for layers of 32 input channels with kernels of 16 and
32, which this path does not take yet.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

#: kernels at least this wide compute grad_weight with the transposed-convolution trick
#: (float32; in bfloat16 grad_weight always comes from the native kernel)
WIDE_KERNEL = 16

#: under autocast, only kernels at least this wide take the fast path (grad_input as a
#: convolution); narrower ones use the native bfloat16 convolution
LOW_PRECISION_FAST_KERNEL = 16

#: global switch, on by default; ``XMODAL_FAST_CONV=0`` (or ``fastconv.ENABLED = False``) turns
#: it off. Gradients differ from the native op only by float32 rounding, so a run is
#: reproducible either way, but the two paths do not give bit-identical models.
ENABLED = os.environ.get("XMODAL_FAST_CONV", "1") != "0"


def use_fast_path(x: Tensor, weight: Tensor) -> bool:
    """Whether :class:`SameConv1dFunction` should replace the native convolution here."""
    if not (
        ENABLED
        and x.device.type == "cpu"
        and torch.is_grad_enabled()
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
    ):
        return False
    if torch.is_autocast_enabled("cpu"):
        # bfloat16: only grad_input as a convolution pays off, for wide kernels
        return x.requires_grad and weight.shape[-1] >= LOW_PRECISION_FAST_KERNEL
    return x.dtype == torch.float32 and (x.requires_grad or weight.requires_grad)


class SameConv1dFunction(torch.autograd.Function):
    """``y = conv1d(pad(x, (left, right)), weight, bias)`` with convolution-based gradients."""

    @staticmethod
    def forward(
        ctx, x: Tensor, weight: Tensor, bias: Tensor | None, left: int, right: int
    ) -> Tensor:
        xp = F.pad(x, (left, right)) if left or right else x
        ctx.save_for_backward(xp, weight)
        ctx.pads = (left, right)
        ctx.has_bias = bias is not None
        return F.conv1d(xp, weight, bias)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        xp, weight = ctx.saved_tensors
        left, right = ctx.pads
        k = weight.shape[-1]
        grad_out = grad_out.contiguous()
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # y[l] = sum_t w[t] x[l + t - left]  =>  gx[m] = sum_s w[k-1-s] gy[m - right + s]
            gx = F.conv1d(
                F.pad(grad_out, (k - 1 - left, k - 1 - right)), weight.flip(-1).transpose(0, 1)
            )
        if ctx.needs_input_grad[1]:
            if k >= WIDE_KERNEL and xp.dtype == torch.float32:
                gw = F.conv1d(xp.transpose(0, 1), grad_out.transpose(0, 1)).transpose(0, 1)
            else:
                gw = torch.ops.aten.convolution_backward(
                    grad_out,
                    xp,
                    weight,
                    None,
                    (1,),
                    (0,),
                    (1,),
                    False,
                    (0,),
                    1,
                    (False, True, False),
                )[1]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad_out.sum(dim=(0, 2))
        return gx, gw, gb, None, None


def same_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None, left: int, right: int) -> Tensor:
    """'same' convolution with the fast gradients (see module docstring).

    Under ``torch.autocast`` the inputs are cast to the autocast dtype first (as autocast
    casts those of ``conv1d``), outside the function, so the gradients flow back through the
    casts to float32 parameters; forward and backward then run in that dtype.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        with torch.autocast(device, enabled=False):
            return SameConv1dFunction.apply(
                x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype), left, right
            )
    return SameConv1dFunction.apply(x, weight, bias, left, right)
