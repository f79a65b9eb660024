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
from xmodal.training.augment import augment_windows
from xmodal.training.metrics import classification_metrics
from xmodal.training.precision import autocast_context, grad_scaler, training_precision
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


def _drop_mask(batch: int, n_streams: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, n_streams) of 0/1: a share ``p`` of the windows lose one random stream."""
    keep = torch.ones(batch, n_streams)
    drop = torch.rand(batch, generator=generator) < p
    which = torch.randint(n_streams, (batch,), generator=generator)
    keep[drop, which[drop]] = 0.0
    return keep


def _gblend_weights(history: list[list[tuple[float, float]]]) -> list[float]:
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


def _ogm_coefficients(aux: list[torch.Tensor], y: torch.Tensor, alpha: float) -> list[float]:
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
    # the fusion recipe: per-stream heads and their losses, modality dropout, OGM-GE
    heads = getattr(model, "aux_heads", None) is not None
    recipe = heads or (
        config.modality_dropout > 0
        and hasattr(model, "head_logits")
        and len(getattr(model, "encoders", ())) > 1
    )
    n_heads = len(model.head_names) if recipe else 1
    loss_weights = [1.0] + [config.aux_weight] * (n_heads - 1)
    if recipe and heads and config.gblend:
        loss_weights = [1.0 / n_heads] * n_heads
    head_history: list[list[tuple[float, float]]] = []
    rates = [float(train.rates[m]) for m in train.modalities]
    swa_state: dict[str, torch.Tensor] | None = None
    swa_count = 0
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
    start = time.perf_counter()
    seen = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)[:per_epoch].to(device)
        total = torch.zeros((), dtype=torch.float64, device=device)  # no per-batch sync
        head_sums = torch.zeros(n_heads, dtype=torch.float64, device=device)  # heads only
        for i in range(0, per_epoch, config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < 2 and per_epoch > 1:
                continue  # BatchNorm needs two samples
            batch = [x[idx] for x in xs]
            if config.augment > 0:
                batch = augment_windows(batch, rates, config.augment, generator)
            coeffs = None
            with autocast:
                if recipe:
                    keep = (
                        _drop_mask(len(idx), len(batch), config.modality_dropout, generator).to(
                            device
                        )
                        if config.modality_dropout > 0
                        else None
                    )
                    outs = model.head_logits(*batch, keep=keep, detach_aux=config.aux_detach)
                    losses = [criterion(z, y[idx]) for z in outs]
                    loss = sum(w * part for w, part in zip(loss_weights, losses))
                    if heads:  # per-head training losses (gradient blending)
                        head_sums += torch.stack([p.detach() for p in losses]).double() * len(idx)
                    if heads and config.ogm_alpha > 0:
                        coeffs = _ogm_coefficients(outs[1:], y[idx], config.ogm_alpha)
                else:
                    loss = model.compute_loss(batch, y[idx], criterion)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if coeffs is not None:
                for enc, coeff in zip(model.encoders, coeffs):
                    for p in enc.parameters():
                        if p.grad is not None:
                            noise = torch.randn(p.grad.shape, generator=generator).to(device)
                            p.grad.mul_(coeff).add_(
                                noise * (p.grad.std() + 1e-8) if p.grad.numel() > 1 else 0.0
                            )
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach().double() * len(idx)
            seen += len(idx)
        record = {"epoch": epoch, "train_loss": float(total) / max(per_epoch, 1)}
        if recipe and heads and val is not None and len(val):
            val_heads = head_logits(model, val, device=device, precision=precision)
            yv = torch.from_numpy(val.labels).to(device)
            val_losses = [float(criterion(torch.from_numpy(z).to(device), yv)) for z in val_heads]
            train_losses = (head_sums / max(per_epoch, 1)).tolist()
            head_history.append(list(zip(train_losses, val_losses)))
            if config.gblend:
                loss_weights = _gblend_weights(head_history)
            record["head_weights"] = [round(w, 4) for w in loss_weights]
        if config.swa and epoch >= min(config.min_epochs, config.epochs):
            current = model.state_dict()
            if swa_state is None:
                swa_state = {k: v.detach().clone().float() for k, v in current.items()}
            else:
                for k, v in current.items():
                    if v.is_floating_point():
                        swa_state[k].mul_(swa_count / (swa_count + 1)).add_(
                            v.detach().float() / (swa_count + 1)
                        )
            swa_count += 1
        if val is not None and len(val):
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
        if val is not None and len(val) and stale >= config.patience:
            break
    if config.swa and swa_state is not None:
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in swa_state.items()})
        _recompute_batch_norm(model, xs, config.batch_size)
    elif best_state is not None:
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
        head_weights=[float(w) for w in loss_weights],
    )


@torch.no_grad()
def _recompute_batch_norm(model: nn.Module, xs: list[torch.Tensor], batch_size: int) -> None:
    """BatchNorm running statistics of averaged weights, from one pass over the training data."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    for i in range(0, len(xs[0]), batch_size):
        if len(xs[0][i : i + batch_size]) > 1:
            model(*[x[i : i + batch_size] for x in xs])
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()
