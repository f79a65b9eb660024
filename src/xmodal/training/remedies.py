"""The fusion recipe's training remedies, as callbacks of the fit loop.

The loops that train a network (:func:`xmodal.training.trainer.train_model` and
:func:`xmodal.training.stacked_trainer.train_stacked`) know none of them by name: they call the
hooks of each :class:`Remedy` that :func:`remedies_for` lists, in that order, at fixed points of
a step and of an epoch. A remedy draws its random numbers from the generator the loop passes,
so a seed gives the same run.

:class:`Augmentation`
    physiological augmentation of every training batch (:mod:`xmodal.training.augment`);
:class:`ModalityDropout`
    a share of the windows lose one random stream (in the fused head and the connections);
:class:`HeadLosses`
    per-stream heads trained with their own losses; with gradient blending (Wang et al., CVPR
    2020) their weights follow how each head generalises to the inner validation subjects;
:class:`GradientModulation`
    OGM-GE (Peng et al., CVPR 2022): the encoder gradients of the dominant stream are scaled
    down, with Gaussian noise;
:class:`WeightAveraging`
    stochastic weight averaging of the epochs after the warm-up
    (:class:`torch.optim.swa_utils.AveragedModel`), then BatchNorm statistics recomputed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from xmodal.config import TrainConfig
from xmodal.signals.windows import WindowSet
from xmodal.training.augment import augment_windows

Tensor = torch.Tensor


class Remedy:
    """The hooks of the fit loop; each does nothing unless a remedy overrides it."""

    #: whether a step needs the model's per-head logits (``head_logits``) instead of its loss
    uses_heads = False

    def on_batch(self, batch: list[Tensor], generator: torch.Generator) -> list[Tensor]:
        """The training batch (one tensor per stream), changed or not."""
        return batch

    def stream_mask(
        self, n_windows: int, n_streams: int, generator: torch.Generator
    ) -> Tensor | None:
        """``(n_windows, n_streams)`` of 0/1: the streams each window keeps (None: all)."""
        return None

    def head_options(self) -> dict:
        """Keywords of the model's ``head_logits``."""
        return {}

    def loss_weights(self) -> list[float] | None:
        """The weight of each head's loss (None: not this remedy's business)."""
        return None

    def on_epoch_start(self, n_windows: int) -> None:
        """Before the first step of an epoch that draws ``n_windows`` training windows."""

    def on_losses(self, logits: list[Tensor], losses: list[Tensor], target: Tensor) -> None:
        """After the forward pass of a step: each head's logits and loss."""

    def after_backward(self, model: nn.Module, generator: torch.Generator) -> None:
        """Between the backward pass and the optimiser step."""

    def on_epoch_end(self, model: nn.Module, epoch: int, record: dict) -> None:
        """After the last step of an epoch, before validation; may add to the epoch's record."""

    def finish(self, model: nn.Module, inputs: list[Tensor], batch_size: int) -> bool:
        """After the last epoch: True when the remedy set the model's final weights (the loop
        then keeps them instead of the best validation epoch's)."""
        return False


class Augmentation(Remedy):
    """Physiological augmentation of each batch at ``strength`` (see
    :func:`~xmodal.training.augment.augment_windows`)."""

    def __init__(self, rates: list[float], strength: float) -> None:
        self.rates = rates
        self.strength = strength

    def on_batch(self, batch: list[Tensor], generator: torch.Generator) -> list[Tensor]:
        return augment_windows(batch, self.rates, self.strength, generator)


def drop_mask(batch: int, n_streams: int, p: float, generator: torch.Generator) -> Tensor:
    """(batch, n_streams) of 0/1: a share ``p`` of the windows lose one random stream."""
    keep = torch.ones(batch, n_streams)
    drop = torch.rand(batch, generator=generator) < p
    which = torch.randint(n_streams, (batch,), generator=generator)
    keep[drop, which[drop]] = 0.0
    return keep


class ModalityDropout(Remedy):
    """A share ``p`` of the training windows lose one random stream."""

    uses_heads = True

    def __init__(self, p: float, device: torch.device | str = "cpu") -> None:
        self.p = p
        self.device = device

    def stream_mask(self, n_windows: int, n_streams: int, generator: torch.Generator) -> Tensor:
        return drop_mask(n_windows, n_streams, self.p, generator).to(self.device)


def gblend_weights(history: list[list[tuple[float, float]]]) -> list[float]:
    """Gradient-blending weights (Wang et al., CVPR 2020) from per-head (train, val) losses.

    ``history[e][k]`` holds head k's training and inner-validation loss after epoch e. Between
    the first epoch and the last, the generalisation gain is ``G = ΔL_val`` (decrease) and the
    overfitting change ``O = Δ(L_val - L_train)``; a head's weight is ``G / O²`` (0 when it
    stopped generalising), normalised to sum to 1. Uniform until two epochs exist.
    """
    k = len(history[-1])
    if len(history) < 2:
        return [1.0 / k] * k
    (first, last) = history[0], history[-1]
    raw = []
    for (t0, v0), (t1, v1) in zip(first, last):
        gain = v0 - v1
        over = (v1 - t1) - (v0 - t0)
        raw.append(max(gain, 0.0) / max(over * over, 1e-4))
    total = sum(raw)
    return [r / total for r in raw] if total > 0 else [1.0 / k] * k


class HeadLosses(Remedy):
    """Per-stream heads beside the fused one, each trained with its own loss.

    Parameters
    ----------
    n_heads : int
        The fused head and one per stream.
    aux_weight : float
        Weight of each per-stream head's loss (the fused head's is 1).
    gblend : bool
        Gradient blending: uniform weights, then after every epoch the weights of
        :func:`gblend_weights` from each head's training and validation losses.
    detach : bool
        The per-stream heads read the streams' features without training them.
    validation_losses : callable, optional
        The model's loss of each head on the inner validation windows (None: no validation).
    """

    uses_heads = True

    def __init__(
        self,
        n_heads: int,
        aux_weight: float,
        gblend: bool,
        detach: bool,
        validation_losses: Callable[[nn.Module], list[float]] | None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.weights = [1.0 / n_heads] * n_heads if gblend else [1.0] + [aux_weight] * (n_heads - 1)
        self.gblend = gblend
        self.detach = detach
        self.validation_losses = validation_losses
        self.history: list[list[tuple[float, float]]] = []
        self._sums = torch.zeros(n_heads, dtype=torch.float64, device=device)
        self._windows = 0

    def head_options(self) -> dict:
        return {"detach_aux": self.detach}

    def loss_weights(self) -> list[float]:
        return self.weights

    def on_epoch_start(self, n_windows: int) -> None:
        self._sums.zero_()
        self._windows = n_windows

    def on_losses(self, logits: list[Tensor], losses: list[Tensor], target: Tensor) -> None:
        self._sums += torch.stack([p.detach() for p in losses]).double() * len(target)

    def on_epoch_end(self, model: nn.Module, epoch: int, record: dict) -> None:
        if self.validation_losses is None:
            return
        train_losses = (self._sums / max(self._windows, 1)).tolist()
        self.history.append(list(zip(train_losses, self.validation_losses(model))))
        if self.gblend:
            self.weights = gblend_weights(self.history)
        record["head_weights"] = [round(w, 4) for w in self.weights]


def ogm_coefficients(aux: list[Tensor], y: Tensor, alpha: float) -> list[float]:
    """OGM-GE (Peng et al., CVPR 2022): ``1 - tanh(alpha * (ratio - 1))`` for a stream whose
    own head is more confident on the true class than the mean of the others, else 1."""
    scores = [
        torch.softmax(z.detach().float(), dim=-1).gather(1, y[:, None]).sum().item() for z in aux
    ]
    coeffs = []
    for m, s in enumerate(scores):
        others = [o for j, o in enumerate(scores) if j != m]
        ratio = s / max(sum(others) / len(others), 1e-12)
        coeffs.append(1.0 - float(np.tanh(alpha * (ratio - 1.0))) if ratio > 1 else 1.0)
    return coeffs


class GradientModulation(Remedy):
    """OGM-GE at strength ``alpha`` on the encoders of a model with per-stream heads."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self._coeffs: list[float] | None = None

    def on_losses(self, logits: list[Tensor], losses: list[Tensor], target: Tensor) -> None:
        self._coeffs = ogm_coefficients(logits[1:], target, self.alpha)

    def after_backward(self, model: nn.Module, generator: torch.Generator) -> None:
        if self._coeffs is None:
            return
        for encoder, coeff in zip(model.encoders, self._coeffs):
            for p in encoder.parameters():
                if p.grad is not None:
                    noise = torch.randn(p.grad.shape, generator=generator).to(p.grad.device)
                    p.grad.mul_(coeff).add_(
                        noise * (p.grad.std() + 1e-8) if p.grad.numel() > 1 else 0.0
                    )
        self._coeffs = None


@torch.no_grad()
def recompute_batch_norm(model: nn.Module, inputs: list[Tensor], batch_size: int) -> None:
    """BatchNorm running statistics of averaged weights, from one pass over the training data
    (:func:`torch.optim.swa_utils.update_bn` feeds one input; the streams are several)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    for i in range(0, len(inputs[0]), batch_size):
        if len(inputs[0][i : i + batch_size]) > 1:
            model(*[x[i : i + batch_size] for x in inputs])
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()


class WeightAveraging(Remedy):
    """Stochastic weight averaging of the weights after every epoch from ``start`` on."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.averaged: AveragedModel | None = None

    def on_epoch_end(self, model: nn.Module, epoch: int, record: dict) -> None:
        if epoch < self.start:
            return
        if self.averaged is None:
            self.averaged = AveragedModel(model)
        self.averaged.update_parameters(model)

    def finish(self, model: nn.Module, inputs: list[Tensor], batch_size: int) -> bool:
        if self.averaged is None:
            return False
        with torch.no_grad():
            for mine, averaged in zip(model.parameters(), self.averaged.module.parameters()):
                mine.copy_(averaged)
        recompute_batch_norm(model, inputs, batch_size)
        return True


def remedies_for(
    model: nn.Module,
    train: WindowSet,
    config: TrainConfig,
    validation_losses: Callable[[nn.Module], list[float]] | None = None,
    device: torch.device | str = "cpu",
) -> list[Remedy]:
    """The remedies ``config`` turns on for ``model``, in the order the loop calls them (which
    is the order they draw random numbers in).

    ``validation_losses`` gives each head's loss on the inner validation windows (gradient
    blending and the per-epoch record of per-stream heads need it)."""
    remedies: list[Remedy] = []
    if config.augment > 0:
        remedies.append(
            Augmentation([float(train.rates[m]) for m in train.modalities], config.augment)
        )
    streams = len(getattr(model, "encoders", ()))
    if config.modality_dropout > 0 and hasattr(model, "head_logits") and streams > 1:
        remedies.append(ModalityDropout(config.modality_dropout, device))
    if getattr(model, "aux_heads", None) is not None:
        remedies.append(
            HeadLosses(
                len(model.head_names),
                config.aux_weight,
                config.gblend,
                config.aux_detach,
                validation_losses,
                device,
            )
        )
        if config.ogm_alpha > 0:
            remedies.append(GradientModulation(config.ogm_alpha))
    if config.swa:
        remedies.append(WeightAveraging(min(config.min_epochs, config.epochs)))
    return remedies
