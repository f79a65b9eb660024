"""Test-time adaptation to a new wearer from unlabelled signal only (``data.adapt``).

A network trained on other people normalises each BatchNorm layer with the statistics of the
training subjects. Re-estimating those statistics on the new wearer's own windows (AdaBN,
Li et al., *Revisiting batch normalization for practical domain adaptation*, 2016) moves every
stream's features to that person's operating point without any label. Modes:

``none``
    The trained statistics (default).
``adabn``
    The statistics of every window of the wearer's recording, labelled or not (offline, like
    ``--normalize recording``).
``adabn-causal``
    What a device can run: the statistics of the windows that end within the first
    ``adapt_minutes`` of the recording, then frozen. A window that ends inside that period is
    predicted with the statistics of the windows that end no later than it does, so no window
    reads a sample recorded after it.

Only window inputs, subjects and start times are read; labels never are. The trained model is
left unchanged: adaptation works on a copy per wearer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from xmodal.config import ADAPT_MODES
from xmodal.errors import ConfigError
from xmodal.signals.windows import WindowSet

_BATCH = 256


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics, in module order."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def check_adaptable(model: nn.Module, mode: str) -> None:
    """ConfigError for an unknown ``mode``, or an adapting mode on a model without BatchNorm."""
    if mode not in ADAPT_MODES:
        raise ConfigError(f"unknown adaptation {mode!r}; valid: {', '.join(ADAPT_MODES)}")
    if mode != "none" and not batchnorm_layers(model):
        raise ConfigError(
            f"adaptation {mode!r} re-estimates BatchNorm statistics, but the model has no "
            f"BatchNorm layer (batch_norm = false?)"
        )


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, inputs: dict[str, np.ndarray], device="cpu") -> nn.Module:
    """Re-estimate, in place, the statistics of every BatchNorm layer of ``model`` from the
    windows ``inputs`` (``{modality: (n, channels, times)}``, in the model's input order):
    the cumulative average over batches of up to 256 windows, every layer seeing the output
    of the layers before it normalised with the current batch (AdaBN). Dropout stays off.

    Returns ``model`` in eval mode.
    """
    layers = batchnorm_layers(model)
    n = len(next(iter(inputs.values()))) if inputs else 0
    if not layers or n == 0:
        return model.eval()
    saved = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
        layer.train()
    device = torch.device(device)
    xs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs.values()]
    # batches of about equal size, so the cumulative average weighs every window alike
    n_batches = -(-n // _BATCH)
    bounds = np.linspace(0, n, n_batches + 1).round().astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        model(*[x[lo:hi] for x in xs])
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum
    return model.eval()


def _inputs(windows: WindowSet, index: np.ndarray) -> dict[str, np.ndarray]:
    return {m: windows.inputs[m][index] for m in windows.modalities}


def adapted_predict(
    model: nn.Module,
    test: WindowSet,
    recording: WindowSet,
    predict: Callable[[nn.Module, dict[str, np.ndarray]], np.ndarray],
    mode: str,
    minutes: float = 5.0,
    device="cpu",
) -> np.ndarray:
    """Predictions of ``test`` by copies of ``model`` adapted to each test subject.

    Parameters
    ----------
    model : nn.Module
        The trained network; never modified.
    test : WindowSet
        Windows to predict (any subjects).
    recording : WindowSet
        The unlabelled windows each test subject's adaptation reads: every window of its
        recording (only ``inputs``, ``subjects``, ``t_start`` and ``window`` are read).
    predict : callable
        ``predict(model, inputs) -> (n, k)`` array for ``{modality: windows}``.
    mode : {'none', 'adabn', 'adabn-causal'}
        See the module docstring.
    minutes : float
        ``adabn-causal``: the adaptation period from the start of the recording.
    device
        Where the statistics are computed.

    Returns
    -------
    np.ndarray
        ``predict``'s output for every test window, in test order.
    """
    check_adaptable(model, mode)
    index = np.arange(len(test.t_start))
    if mode == "none" or len(index) == 0:
        return predict(model, _inputs(test, index))
    if minutes <= 0:
        raise ConfigError(f"adapt_minutes must be positive, got {minutes}")
    parts: dict[int, np.ndarray] = {}
    for subject in np.unique(test.subjects):
        mine = index[test.subjects == subject]
        rec = np.flatnonzero(recording.subjects == subject)
        if len(rec) == 0:
            raise ConfigError(f"{subject}: no recording windows to adapt to")
        if mode == "adabn":
            net = adapt_batchnorm(copy.deepcopy(model), _inputs(recording, rec), device)
            out = predict(net, _inputs(test, mine))
            for i, row in zip(mine, out):
                parts[int(i)] = row
            continue
        rec_end = recording.t_start[rec] + recording.window
        cutoff = recording.t_start[rec].min() + 60.0 * minutes
        test_end = test.t_start[mine] + test.window
        # windows that end after the adaptation period: the frozen statistics of the period
        late = test_end > cutoff
        frozen = rec[rec_end <= cutoff]
        groups = [(frozen, mine[late])] if late.any() else []
        # windows inside it: the statistics of the recording windows that end no later
        for end in np.unique(test_end[~late]):
            groups.append((rec[rec_end <= end + 1e-9], mine[~late & (test_end == end)]))
        for used, targets in groups:
            net = copy.deepcopy(model)
            if len(used):
                adapt_batchnorm(net, _inputs(recording, used), device)
            out = predict(net.eval(), _inputs(test, targets))
            for i, row in zip(targets, out):
                parts[int(i)] = row
    return np.stack([parts[int(i)] for i in index])


def adaptation_note(mode: str, minutes: float) -> str:
    """What an adaptation mode did, in words (model card, reports)."""
    if mode == "adabn":
        return (
            "BatchNorm statistics re-estimated on every window of the test subject's recording "
            "(unlabelled; offline)."
        )
    if mode == "adabn-causal":
        return (
            f"BatchNorm statistics re-estimated on the windows of the first {minutes:g} min of "
            f"the test subject's recording (unlabelled), then frozen; windows inside that period "
            f"use only the windows that end no later."
        )
    return "none: the statistics of the training subjects."


@torch.no_grad()
def window_probabilities(model: nn.Module, inputs: dict[str, np.ndarray], device) -> np.ndarray:
    """Softmax of ``model``'s float32 logits for ``{modality: windows}``, in eval mode."""
    model.eval()
    xs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs.values()]
    n = len(xs[0])
    out = [model(*[x[i : i + _BATCH] for x in xs]).float() for i in range(0, n, _BATCH)]
    return torch.softmax(torch.cat(out), dim=1).cpu().numpy()


def fold_probabilities(
    estimator, test: WindowSet, recording: WindowSet | None, mode: str, minutes: float
) -> np.ndarray:
    """Test probabilities of a fitted fold estimator under adaptation ``mode``; the
    estimator's own model is left as trained (it is what the fold saves).

    Raises
    ------
    ConfigError
        An adapting mode for an estimator that is not a network with BatchNorm.
    """
    if mode == "none":
        return estimator.predict_proba(test)
    model = getattr(estimator, "model", None)
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"adaptation {mode!r} adapts a network; model {estimator.label!r} is not one "
            f"(use adapt = 'none')"
        )
    if recording is None:
        raise ConfigError(f"adaptation {mode!r}: no recording windows of the test subjects")
    device = getattr(estimator, "device", "cpu")
    model.to(device)
    return adapted_predict(
        model,
        test,
        recording,
        lambda net, inputs: window_probabilities(net, inputs, device),
        mode,
        minutes,
        device,
    )
