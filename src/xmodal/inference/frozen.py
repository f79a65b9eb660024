"""Frozen TorchScript copies of a model for fast CPU inference (the Predictor's default on CPU).

Batch-1 inference of these small networks is bound by per-operation overhead, not by FLOPs: the
default model runs about a hundred eager operations per window. ``torch.jit.freeze`` folds every
BatchNorm into the convolution before it and inlines the parameters, and
``torch.jit.optimize_for_inference`` fuses convolution + ReLU and pre-packs the weights for
oneDNN; together they halve the latency of one window (see ``benchmarks/latency.py``). The
frozen module gives the eager model's outputs within float32 rounding (tested to 1e-5).
"""

from __future__ import annotations

import warnings

import torch

from xmodal.models.base import XModalModel


def freeze_for_cpu(model: XModalModel) -> torch.jit.ScriptModule:
    """Traced, frozen and inference-optimised copy of ``model`` (eval mode) for CPU inputs of any
    batch size; attention outputs are not kept (use the eager model for those)."""
    model = model.eval()
    example = tuple(model.example_inputs(2))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings, jit deprecation notes
        traced = torch.jit.trace(model, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
