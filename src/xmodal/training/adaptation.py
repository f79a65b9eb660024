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
``experts-mi``
    Which sensor to trust for this person: a fusion network trained with modality dropout
    holds one expert per stream (that stream alone) beside the fused model
    (:meth:`~xmodal.models.multimodal.CrossModalNet.expert_logits`). Over the wearer's windows
    each expert's predictions carry mutual information between window and class,
    ``H(mean p) - mean H(p)``: an expert whose sensor does not respond in this person predicts
    about the same for every window (low), one that follows the person's states varies
    (high). The experts' probabilities are mixed with weights proportional to it (the
    information-maximisation criterion of SHOT, Liang et al. 2020, used to weigh experts).
``experts-mi-causal``
    The same weights from the first ``adapt_minutes`` only (then frozen; inside that period
    from the windows that end no later).
``adabn-experts-mi``
    Both: the BatchNorm statistics of the recording, then the experts of that adapted network
    weighted by their mutual information.

Only window inputs, subjects and start times are read; labels never are. The trained model is
left unchanged: adaptation works on a copy per wearer. Fewer than :data:`MIN_WINDOWS` windows
to adapt to (a short recording, the first windows of the causal modes) leave the network as
trained; so does a model with nothing to adapt (no BatchNorm layer for ``adabn``; one stream
for the experts modes, whose only expert is the model itself; the ``features`` baseline).
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
#: fewer windows than this (two minutes of 10-s windows) are too few to adapt to
MIN_WINDOWS = 12


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics, in module order."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def _members(model: nn.Module) -> list[nn.Module]:
    members = getattr(model, "members", None)
    return list(members) if members is not None else [model]


def check_adaptable(model: nn.Module, mode: str) -> None:
    """ConfigError for an unknown adaptation ``mode``."""
    if mode not in ADAPT_MODES:
        raise ConfigError(f"unknown adaptation {mode!r}; valid: {', '.join(ADAPT_MODES)}")


def has_stream_experts(model: nn.Module) -> bool:
    """Whether ``model`` (every member of a seed ensemble) is a fusion network of two or more
    streams that can predict with each stream alone (``expert_logits``)."""
    return all(
        hasattr(m, "expert_logits") and len(getattr(m, "encoders", ())) > 1 for m in _members(model)
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


def mutual_information(proba: np.ndarray) -> float:
    """``H(mean p) - mean H(p)`` (nats) of class probabilities ``(n, k)``: how much an
    expert's prediction depends on the window."""
    p = np.clip(proba, 1e-12, 1.0)
    mean = p.mean(0)
    return float(-(mean * np.log(mean)).sum() + (p * np.log(p)).sum(1).mean())


def information_shares(probas: list[np.ndarray]) -> np.ndarray | None:
    """Each expert's share of the experts' summed mutual information (:func:`mutual_information`
    of its class probabilities ``(n, k)``, negative values as 0); None when none carries any."""
    info = np.array([max(mutual_information(p), 0.0) for p in probas])
    return info / info.sum() if info.sum() > 1e-9 else None


class ExpertMix(nn.Module):
    """A fusion network (or seed ensemble) whose experts are mixed with fixed per-person
    weights, one weight vector per member (fused model first); output: log-probabilities."""

    def __init__(self, model: nn.Module, weights: list[np.ndarray]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("weights", torch.as_tensor(np.stack(weights), dtype=torch.float32))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = []
        for member, w in zip(_members(self.model), self.weights):
            logp = torch.stack(
                [torch.log_softmax(z.float(), -1) for z in member.expert_logits(*xs)]
            )
            out.append(torch.logsumexp(logp + torch.log(w.clamp_min(1e-12))[:, None, None], 0))
        return torch.logsumexp(torch.stack(out), 0) - float(np.log(len(out)))


@torch.no_grad()
def _member_experts(member: nn.Module, xs: list[torch.Tensor]) -> list[np.ndarray]:
    """One network's experts' class probabilities (fused first, then each stream alone) of the
    windows ``xs``, in eval mode."""
    member.eval()
    parts = [
        [
            torch.softmax(z.float(), -1)
            for z in member.expert_logits(*[x[i : i + _BATCH] for x in xs])
        ]
        for i in range(0, len(xs[0]), _BATCH)
    ]
    return [torch.cat([p[e] for p in parts]).cpu().numpy() for e in range(len(parts[0]))]


def expert_weights(model: nn.Module, inputs: dict[str, np.ndarray], device="cpu") -> list:
    """Per member, the experts' weights (fused first) proportional to their mutual information
    over the windows ``inputs``; the fused model alone when no expert carries any."""
    xs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs.values()]
    out = []
    for member in _members(model):
        probs = _member_experts(member, xs)
        shares = information_shares(probs)
        out.append(shares if shares is not None else np.eye(len(probs))[0])
    return out


def expert_probabilities(
    model: nn.Module, inputs: dict[str, np.ndarray], device="cpu"
) -> np.ndarray:
    """The class probabilities ``(n, 1 + streams, k)`` of a fusion network's experts for
    ``{modality: windows}``: the fused model, then each stream alone, the others withheld
    (:meth:`~xmodal.models.multimodal.CrossModalNet.expert_logits`); the mean over the members
    of a seed ensemble. ConfigError for a network without them."""
    if not has_stream_experts(model):
        raise ConfigError(
            f"{type(model).__name__} has no per-stream experts (a fusion network of two or "
            "more streams has)"
        )
    xs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs.values()]
    if len(xs[0]) == 0:
        return np.zeros((0, len(model.input_shapes) + 1, model.n_outputs))
    members = [np.stack(_member_experts(m, xs), axis=1) for m in _members(model)]
    return sum(members) / len(members)


def _adapted(model: nn.Module, mode: str, inputs: dict[str, np.ndarray] | None, device):
    """A copy of ``model`` adapted with the windows ``inputs`` (None: none to adapt to)."""
    if inputs is not None and len(next(iter(inputs.values()))) < MIN_WINDOWS:
        inputs = None
    net = copy.deepcopy(model)
    if mode.startswith("adabn"):
        net = adapt_batchnorm(net, inputs, device) if inputs is not None else net.eval()
    if "experts" not in mode or not has_stream_experts(net):
        return net
    if inputs is None:
        return ExpertMix(net, [np.eye(len(m.encoders) + 1)[0] for m in _members(net)])
    return ExpertMix(net, expert_weights(net, inputs, device))


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
    mode : {'none', 'adabn', 'adabn-causal', 'experts-mi', 'experts-mi-causal', \
            'adabn-experts-mi'}
        See the module docstring.
    minutes : float
        The causal modes: the adaptation period from the start of the recording.
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
        if not mode.endswith("-causal"):
            net = _adapted(model, mode, _inputs(recording, rec), device)
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
            net = _adapted(model, mode, _inputs(recording, used) if len(used) else None, device)
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
    if mode == "experts-mi":
        return (
            "the fused model and each stream alone mixed with per-person weights proportional "
            "to each one's mutual information between window and class over every window of "
            "the test subject's recording (unlabelled; offline)."
        )
    if mode == "adabn-experts-mi":
        return (
            "BatchNorm statistics re-estimated on every window of the test subject's recording, "
            "then the fused model and each stream alone of the adapted network mixed with "
            "per-person weights proportional to their mutual information (unlabelled; offline)."
        )
    if mode == "experts-mi-causal":
        return (
            f"the fused model and each stream alone mixed with per-person weights from the "
            f"first {minutes:g} min of the test subject's recording (unlabelled), then frozen."
        )
    return "none: the trained network as it is."


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
    estimator's own model is left as trained (it is what the fold saves). A hybrid whose
    blend weighs its experts per person (``experts-mi``, ``experts-gate``) weighs them on
    ``recording``.

    Raises
    ------
    ConfigError
        No recording windows for an adapting mode or a blend that reads them.
    """
    model = getattr(estimator, "model", None)
    if not isinstance(model, nn.Module):  # features: nothing to adapt
        return estimator.predict_proba(test)
    reads_recording = getattr(estimator, "reads_recording", False)
    if mode == "none" and not reads_recording:
        return estimator.predict_proba(test)
    if recording is None:
        what = f"adaptation {mode!r}" if mode != "none" else "a features blend of experts"
        raise ConfigError(f"{what}: no recording windows of the test subjects")
    device = getattr(estimator, "device", "cpu")
    model.to(device)
    view = getattr(estimator, "network_view", lambda windows: windows)

    # a hybrid whose network enters its blend as one expert per stream
    probabilities = (
        expert_probabilities
        if getattr(estimator, "stream_experts", False)
        else window_probabilities
    )

    def network_of(windows: WindowSet) -> np.ndarray:
        if mode == "none":
            return estimator.network_proba(windows)
        return adapted_predict(
            model,
            view(windows),
            view(recording),
            lambda net, inputs: probabilities(net, inputs, device),
            mode,
            minutes,
            device,
        )

    if reads_recording:
        # the test subjects' recordings, predicted once: the test windows are among them
        own = recording.of_subjects(np.unique(test.subjects))
        pooled = network_of(own)
        rows = own.rows_of(test)
        network = pooled[rows] if rows is not None else network_of(test)
        return estimator.features.blend(test, network, own, pooled)
    network = network_of(test)
    blend = getattr(estimator, "blend", None)  # a hybrid's features half is not adapted
    return network if blend is None else blend(test, network)
