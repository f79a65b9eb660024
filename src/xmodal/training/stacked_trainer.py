"""Training the K members of a seed ensemble together, as one stacked network.

:func:`train_stacked` does for K :class:`~xmodal.models.multimodal.CrossModalNet` s at once
what :func:`xmodal.training.trainer.train_model` does for each alone, with one forward and one
backward pass per batch for all of them (see :mod:`xmodal.models.stacked`). Nothing a member
learns depends on the others:

* member k draws its batch order, augmentation and modality-dropout masks from its own
  generator seeded with its own training seed, and its dropout masks from its own generator
  (seeded as the global generator is when the member trains alone);
* the loss is the sum of the members' class-weighted losses, so each member's gradient is that
  of its own loss; AdamW works element by element, so one optimiser over the stacked
  parameters updates each member's slice as its own optimiser would;
* validation, model selection and early stopping are per member: a member that has stopped
  keeps its best weights (its slice may go on changing, unused; it is discarded), and training
  ends when every member has stopped.

In float32 each member ends within rounding of the same member trained alone
(``tests/test_stacked.py`` checks 1e-5); :func:`stack_unsupported` names the settings this
path does not cover, which train the members one after another instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from xmodal.config import TrainConfig
from xmodal.models.multimodal import CrossModalNet
from xmodal.models.stacked import StackedCrossModalNet, stack_inputs, stackable
from xmodal.signals.windows import WindowSet
from xmodal.training.metrics import classification_metrics
from xmodal.training.precision import autocast_context, grad_scaler, training_precision
from xmodal.training.remedies import remedies_for
from xmodal.training.threads import training_threads
from xmodal.training.trainer import (
    TrainResult,
    _tensors,
    class_weights,
    resolve_device,
)


def stack_unsupported(members: Sequence[nn.Module], config: TrainConfig) -> str:
    """Why these members cannot train stacked under ``config`` (``""``: they can)."""
    if len(members) < 2:
        return "a single network"
    why = stackable(members)
    if why:
        return why
    # OGM-GE, gradient blending and auxiliary losses act on per-stream heads, which stacked
    # members do not have (see stackable); pretrained encoders are loaded before stacking
    options = {"warm_start": config.warm_start, "swa": config.swa}
    used = [name for name, on in options.items() if on]
    return f"training option(s) {', '.join(used)}" if used else ""


@torch.no_grad()
def _stacked_val_logits(
    model: StackedCrossModalNet,
    xs: list[torch.Tensor],
    precision: str,
    device: torch.device,
    batch_size: int = 256,
) -> list[np.ndarray]:
    """Every member's float32 validation logits (eval mode), one array per member."""
    model.eval()
    k = model.k
    with autocast_context(precision, device):
        parts = [
            model(*[x[i : i + batch_size].repeat(1, k, 1) for x in xs]).float().cpu()
            for i in range(0, len(xs[0]), batch_size)
        ]
    logits = torch.cat(parts).numpy()
    return [logits[:, j] for j in range(k)]


def train_stacked(
    members: Sequence[CrossModalNet],
    train: WindowSet,
    val: WindowSet | None,
    configs: Sequence[TrainConfig],
    n_classes: int,
    dropout_generators: Sequence[torch.Generator],
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[list[TrainResult], float]:
    """Fit K members in place, together; each ends with the weights of its best epoch.

    Parameters
    ----------
    members : sequence of CrossModalNet
        K networks of one configuration (see :func:`stack_unsupported`).
    train, val : WindowSet
        Training and inner-validation windows (None: no early stopping, the last epoch kept).
    configs : sequence of TrainConfig
        Member k's training settings; they differ only in ``seed``.
    n_classes : int
        Number of classes.
    dropout_generators : sequence of torch.Generator
        Member k's source of dropout masks (where it trains alone: the global generator).
    on_epoch : callable, optional
        Called with member 0's record after each of its epochs.

    Returns
    -------
    results : list of TrainResult
        One per member (``train_s``: the stacked run's time, shared by all).
    seconds : float
        Wall time of the stacked training.
    """
    config = configs[0]
    device = resolve_device(config.device)
    with training_threads(config.threads, device) as info:
        results, seconds = _fit_stacked(
            members, train, val, configs, n_classes, dropout_generators, on_epoch, device
        )
    for r in results:
        r.threads = info["threads"]
    return results, seconds


def _fit_stacked(
    members: Sequence[CrossModalNet],
    train: WindowSet,
    val: WindowSet | None,
    configs: Sequence[TrainConfig],
    n_classes: int,
    dropout_generators: Sequence[torch.Generator],
    on_epoch: Callable[[dict], None] | None,
    device: torch.device,
) -> tuple[list[TrainResult], float]:
    config = configs[0]
    k = len(members)
    model = StackedCrossModalNet(members, dropout_generators).to(device)
    weighted_ce = nn.CrossEntropyLoss(weight=class_weights(train.labels, n_classes).to(device))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    generators = [torch.Generator().manual_seed(c.seed) for c in configs]
    n_streams = len(members[0].encoders)
    # augmentation and modality dropout (what stacking supports), per member
    remedies = [
        remedies_for(member, train, c, device=device) for member, c in zip(members, configs)
    ]
    xs = _tensors(train, device)
    y = torch.from_numpy(train.labels).to(device)
    val_xs = _tensors(val, device) if val is not None and len(val) else None
    precision = training_precision(config, device)
    autocast = autocast_context(precision, device)
    scaler = grad_scaler(precision, device)
    n = len(train)
    if not 0.0 < config.epoch_fraction <= 1.0:
        raise ValueError(f"epoch_fraction must be in (0, 1], got {config.epoch_fraction}")
    per_epoch = max(min(n, 2), int(np.ceil(config.epoch_fraction * n)))
    best = [(-np.inf, np.inf)] * k
    best_state: list[dict | None] = [None] * k
    best_epoch, stale = [0] * k, [0] * k
    active = [True] * k
    histories: list[list[dict]] = [[] for _ in range(k)]
    start = time.perf_counter()
    seen = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        orders = [torch.randperm(n, generator=g)[:per_epoch].to(device) for g in generators]
        totals = torch.zeros(k, dtype=torch.float64, device=device)
        for i in range(0, per_epoch, config.batch_size):
            idx = [order[i : i + config.batch_size] for order in orders]
            size = len(idx[0])
            if size < 2 and per_epoch > 1:
                continue  # BatchNorm needs two samples
            batches, keeps = [], []
            for j in range(k):
                batch = [x[idx[j]] for x in xs]
                for remedy in remedies[j]:
                    batch = remedy.on_batch(batch, generators[j])
                batches.append(batch)
                masks = [r.stream_mask(size, n_streams, generators[j]) for r in remedies[j]]
                keeps += [m for m in masks if m is not None]
            keep = torch.stack(keeps, dim=1) if keeps else None
            with autocast:
                logits = model(*stack_inputs(batches), keep=keep)
                losses = torch.stack(
                    [weighted_ce(logits[:, j].float(), y[idx[j]]) for j in range(k)]
                )
                loss = losses.sum()
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            totals += losses.detach().double() * size
            seen += size * sum(active)
        totals = (totals / max(per_epoch, 1)).tolist()
        val_logits = (
            _stacked_val_logits(model, val_xs, precision, device) if val_xs is not None else None
        )
        for j in range(k):
            if not active[j]:
                continue
            record = {"epoch": epoch, "train_loss": totals[j]}
            if val_logits is not None:
                logits_j = val_logits[j]
                val_loss = float(
                    nn.functional.cross_entropy(
                        torch.from_numpy(logits_j), torch.from_numpy(val.labels)
                    )
                )
                m = classification_metrics(
                    val.labels, logits_j.argmax(1), train.classes or range(n_classes)
                )
                record.update(
                    val_loss=val_loss, val_macro_f1=m["macro_f1"], val_accuracy=m["accuracy"]
                )
                score = (m["macro_f1"], -val_loss)
                if epoch >= min(config.min_epochs, config.epochs) and score > (
                    best[j][0],
                    -best[j][1],
                ):
                    best[j] = (m["macro_f1"], val_loss)
                    best_state[j] = model.member_state(j)
                    best_epoch[j], stale[j] = epoch, 0
                elif epoch >= config.min_epochs:
                    stale[j] += 1
                if stale[j] >= config.patience:
                    active[j] = False
            else:
                best_epoch[j] = epoch
            histories[j].append(record)
            if j == 0 and on_epoch is not None:
                on_epoch(record)
            if not active[j] and best_state[j] is None:
                best_state[j] = model.member_state(j)  # no selected epoch: its last one
        if not any(active):
            break
    for j, member in enumerate(members):
        member.load_state_dict(
            best_state[j] if best_state[j] is not None else model.member_state(j)
        )
        member.to(device)
    elapsed = time.perf_counter() - start
    results = [
        TrainResult(
            best_epoch[j],
            len(histories[j]),
            histories[j],
            elapsed,
            seen / max(elapsed, 1e-9),
            amp=precision != "fp32",
            precision=precision,
            head_weights=[1.0],
        )
        for j in range(k)
    ]
    return results, elapsed
