"""Training one model: class-weighted cross-entropy, AdamW, early stopping on validation subjects."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from xmodal.config import TrainConfig
from xmodal.signals.windows import WindowSet
from xmodal.training.metrics import classification_metrics
from xmodal.training.precision import autocast_context, grad_scaler, training_precision
from xmodal.training.remedies import remedies_for
from xmodal.training.threads import training_threads


@dataclass
class TrainResult:
    """What training one fold produced."""

    best_epoch: int
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    train_s: float = 0.0
    windows_per_s: float = 0.0
    threads: int = 0  # CPU intra-op threads used (see training.threads)
    amp: bool = False  # mixed precision (autocast) used
    precision: str = "fp32"  # resolved precision: fp32 | bf16 | fp16
    head_weights: list[float] = field(default_factory=list)  # final loss weight of each head


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU.

    Raises
    ------
    ConfigError
        Not one of cpu, cuda, cuda:N, auto; or CUDA (that GPU) requested but not available.
    """
    from xmodal.config import check_device
    from xmodal.errors import ConfigError

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this torch has no CUDA support" if torch.version.cuda is None else "no GPU found"
            raise ConfigError(
                f"device {name!r}: CUDA requested but not available ({why}); "
                f"use --device cpu or auto"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name!r}: no such GPU ({torch.cuda.device_count()} "
                f"available: cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    return torch.device(name)


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Balanced weights ``n / (k * count)``; a class absent from training gets weight 0."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def _tensors(windows: WindowSet, device: torch.device) -> list[torch.Tensor]:
    if device.type == "cuda":  # pinned host memory: asynchronous copies
        return [
            torch.from_numpy(windows.inputs[m]).pin_memory().to(device, non_blocking=True)
            for m in windows.modalities
        ]
    return [torch.from_numpy(windows.inputs[m]).to(device) for m in windows.modalities]


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    windows: WindowSet,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """Float32 logits ``(n_windows, n_classes)`` of a model in eval mode, computed under the
    autocast of a resolved ``precision`` (see :mod:`xmodal.training.precision`)."""
    device = torch.device(device)
    model.eval()
    xs = _tensors(windows, device)
    with autocast_context(precision, device):
        out = [
            model(*[x[i : i + batch_size] for x in xs]).float().cpu()
            for i in range(0, len(windows), batch_size)
        ]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_model(
    model: nn.Module,
    train: WindowSet,
    val: WindowSet | None,
    config: TrainConfig,
    n_classes: int,
    on_epoch: Callable[[dict], None] | None = None,
    encoder_lr_factor: float = 1.0,
) -> TrainResult:
    """Fit ``model`` in place (see :func:`_fit`) with the CPU thread count of
    ``config.threads`` (0: torch's default; N; -1: as many as idle CPUs, see
    :mod:`xmodal.training.threads`); the previous thread count is restored afterwards.
    ``encoder_lr_factor`` scales the learning rate of the stream encoders (warm start)."""
    device = resolve_device(config.device)
    model.to(device)
    with training_threads(config.threads, device) as info:
        result = _fit(model, train, val, config, n_classes, on_epoch, encoder_lr_factor)
    result.threads = info["threads"]
    return result


@torch.no_grad()
def head_logits(
    model: nn.Module,
    windows: WindowSet,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> list[np.ndarray]:
    """Eval-mode float32 logits of every head of a model with per-stream heads (see
    :meth:`~xmodal.models.multimodal.CrossModalNet.head_logits`), fused head first, under the
    autocast of a resolved ``precision``."""
    device = torch.device(device)
    model.eval()
    xs = _tensors(windows, device)
    with autocast_context(precision, device):
        parts = [
            model.head_logits(*[x[i : i + batch_size] for x in xs])
            for i in range(0, len(windows), batch_size)
        ]
    return (
        [torch.cat([p[k] for p in parts]).float().cpu().numpy() for k in range(len(parts[0]))]
        if parts
        else []
    )


def _fit(
    model: nn.Module,
    train: WindowSet,
    val: WindowSet | None,
    config: TrainConfig,
    n_classes: int,
    on_epoch: Callable[[dict], None] | None = None,
    encoder_lr_factor: float = 1.0,
) -> TrainResult:
    """Fit ``model`` in place; on return it holds the weights of the best validation epoch.

    Parameters
    ----------
    model : nn.Module
        An :class:`~xmodal.models.base.XModalModel`; its ``compute_loss`` gives the loss.
    train, val : WindowSet
        Training windows and inner-validation windows (other subjects than the test subject).
        Without validation windows, the last epoch is kept.
    config : TrainConfig
        Epochs, batch size, learning rate, weight decay, patience, seed, device.
    n_classes : int
        Number of classes of the task.
    on_epoch : callable, optional
        Called after every epoch with that epoch's record.

    Notes
    -----
    Every epoch trains on a fresh random ``epoch_fraction`` of the training windows (with
    overlapping training windows, half of them per epoch costs what non-overlapping windows
    would, yet every epoch sees other crops of the recordings). Model selection uses validation
    macro-F1 (ties broken by lower validation loss) over the
    epochs from ``min_epochs`` on (early epochs, while BatchNorm statistics settle, are a
    warm-up); training stops after ``patience`` further epochs without improvement.
    """
    device = resolve_device(config.device)
    model.to(device)
    weighted_ce = nn.CrossEntropyLoss(weight=class_weights(train.labels, n_classes).to(device))

    def criterion(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return weighted_ce(logits.float(), target)  # the loss in float32 under autocast

    encoders = getattr(model, "encoders", None)
    if encoder_lr_factor != 1.0 and encoders is not None:
        enc_ids = {id(p) for p in encoders.parameters()}
        groups = [
            {"params": list(encoders.parameters()), "lr": config.lr * encoder_lr_factor},
            {"params": [p for p in model.parameters() if id(p) not in enc_ids]},
        ]
    else:
        groups = [{"params": list(model.parameters())}]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    xs = _tensors(train, device)
    y = torch.from_numpy(train.labels).to(device)
    precision = training_precision(config, device)
    autocast = autocast_context(precision, device)
    scaler = grad_scaler(precision, device)  # loss scaling for fp16 only
    n = len(train)
    if not 0.0 < config.epoch_fraction <= 1.0:
        raise ValueError(f"epoch_fraction must be in (0, 1], got {config.epoch_fraction}")
    per_epoch = max(min(n, 2), int(np.ceil(config.epoch_fraction * n)))
    best = (-np.inf, np.inf)
    best_state, best_epoch, stale = None, 0, 0
    history = []
    has_val = val is not None and len(val) > 0

    def validation_losses(model: nn.Module) -> list[float]:  # each head's, on validation
        yv = torch.from_numpy(val.labels).to(device)
        return [
            float(criterion(torch.from_numpy(z).to(device), yv))
            for z in head_logits(model, val, device=device, precision=precision)
        ]

    remedies = remedies_for(model, train, config, validation_losses if has_val else None, device)
    uses_heads = any(r.uses_heads for r in remedies)

    def loss_weights(n_heads: int) -> list[float]:  # of each head's loss
        return next((w for r in remedies if (w := r.loss_weights()) is not None), [1.0] * n_heads)

    head_options = {k: v for r in remedies for k, v in r.head_options().items()}
    start = time.perf_counter()
    seen = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)[:per_epoch].to(device)
        total = torch.zeros((), dtype=torch.float64, device=device)  # no per-batch sync
        for remedy in remedies:
            remedy.on_epoch_start(per_epoch)
        for i in range(0, per_epoch, config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < 2 and per_epoch > 1:
                continue  # BatchNorm needs two samples
            batch = [x[idx] for x in xs]
            for remedy in remedies:
                batch = remedy.on_batch(batch, generator)
            with autocast:
                if uses_heads:
                    masks = [r.stream_mask(len(idx), len(batch), generator) for r in remedies]
                    keep = next((m for m in masks if m is not None), None)
                    outs = model.head_logits(*batch, keep=keep, **head_options)
                    losses = [criterion(z, y[idx]) for z in outs]
                    loss = sum(w * part for w, part in zip(loss_weights(len(outs)), losses))
                    for remedy in remedies:
                        remedy.on_losses(outs, losses, y[idx])
                else:
                    loss = model.compute_loss(batch, y[idx], criterion)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            for remedy in remedies:
                remedy.after_backward(model, generator)
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach().double() * len(idx)
            seen += len(idx)
        record = {"epoch": epoch, "train_loss": float(total) / max(per_epoch, 1)}
        for remedy in remedies:
            remedy.on_epoch_end(model, epoch, record)
        if has_val:
            logits = predict_logits(model, val, device=device, precision=precision)
            val_loss = float(
                nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(val.labels))
            )
            m = classification_metrics(
                val.labels, logits.argmax(1), train.classes or range(n_classes)
            )
            record.update(val_loss=val_loss, val_macro_f1=m["macro_f1"], val_accuracy=m["accuracy"])
            score = (m["macro_f1"], -val_loss)
            if epoch >= min(config.min_epochs, config.epochs) and score > (best[0], -best[1]):
                best = (m["macro_f1"], val_loss)
                best_state = copy.deepcopy(model.state_dict())
                best_epoch, stale = epoch, 0
            elif epoch >= config.min_epochs:
                stale += 1
        else:
            best_epoch = epoch
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if has_val and stale >= config.patience:
            break
    finished = [r.finish(model, xs, config.batch_size) for r in remedies]
    if not any(finished) and best_state is not None:
        model.load_state_dict(best_state)
    elapsed = time.perf_counter() - start
    return TrainResult(
        best_epoch,
        len(history),
        history,
        elapsed,
        seen / max(elapsed, 1e-9),
        amp=precision != "fp32",
        precision=precision,
        head_weights=[float(w) for w in loss_weights(1)],
    )
