"""The size and cost of a network: parameters and floating-point operations per window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def flops_per_window(model: nn.Module, input_shapes: Mapping[str, Sequence[int]]) -> int:
    """Floating-point operations of one forward pass on one window (eval mode), counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` (a multiply-add counts as 2).

    Parameters
    ----------
    model : nn.Module
        The network; it is moved to the CPU and set to eval mode.
    input_shapes : mapping of str to (int, int)
        Ordered ``{modality: (n_channels, n_times)}`` of the model's inputs.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = model.cpu().eval()
    xs = [torch.zeros(1, *shape) for shape in input_shapes.values()]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*xs)
    return int(counter.get_total_flops())
