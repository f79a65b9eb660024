"""Training one model: class-weighted cross-entropy, AdamW, early stopping on validation subjects."""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from xmodal.config import TrainConfig
from xmodal.evaluation.metrics import classification_metrics
from xmodal.signals.windows import WindowSet
from xmodal.training.threads import training_threads


@dataclass
class TrainResult:
    """What training one fold produced."""

    best_epoch: int
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    train_s: float = 0.0
    windows_per_s: float = 0.0
    threads: int = 0                         # CPU intra-op threads used (see training.threads)
    amp: bool = False                        # CUDA mixed precision used


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Balanced weights ``n / (k * count)``; a class absent from training gets weight 0."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def _tensors(windows: WindowSet, device: torch.device) -> list[torch.Tensor]:
    if device.type == "cuda":                # pinned host memory: asynchronous copies
        return [torch.from_numpy(windows.inputs[m]).pin_memory().to(device, non_blocking=True)
                for m in windows.modalities]
    return [torch.from_numpy(windows.inputs[m]).to(device) for m in windows.modalities]


def _autocast(device: torch.device, enabled: bool):
    """Mixed precision on CUDA only (bfloat16 where supported, else float16); a no-op on CPU,
    so CPU metrics are those of plain float32."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def predict_logits(model: nn.Module, windows: WindowSet, batch_size: int = 256,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Logits ``(n_windows, n_classes)`` of a model in eval mode."""
    device = torch.device(device)
    model.eval()
    xs = _tensors(windows, device)
    out = [model(*[x[i:i + batch_size] for x in xs]).float().cpu()
           for i in range(0, len(windows), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_model(model: nn.Module, train: WindowSet, val: WindowSet | None, config: TrainConfig,
                n_classes: int, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Fit ``model`` in place (see :func:`_fit`) with the CPU thread count of
    ``config.threads`` (0: torch's default; N; -1: as many as idle CPUs, see
    :mod:`xmodal.training.threads`); the previous thread count is restored afterwards."""
    device = resolve_device(config.device)
    model.to(device)
    with training_threads(config.threads, device) as info:
        result = _fit(model, train, val, config, n_classes, on_epoch)
    result.threads = info["threads"]
    return result


def _fit(model: nn.Module, train: WindowSet, val: WindowSet | None, config: TrainConfig,
         n_classes: int, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
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
    criterion = nn.CrossEntropyLoss(weight=class_weights(train.labels, n_classes).to(device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    xs = _tensors(train, device)
    y = torch.from_numpy(train.labels).to(device)
    amp = bool(config.amp) and device.type == "cuda"
    autocast = _autocast(device, amp)
    # loss scaling only for float16 autocast (bfloat16 has float32's range)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and not torch.cuda.is_bf16_supported())
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
        total = torch.zeros((), dtype=torch.float64, device=device)   # no per-batch sync
        for i in range(0, per_epoch, config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2 and per_epoch > 1:
                continue                         # BatchNorm needs two samples
            with autocast:
                loss = model.compute_loss([x[idx] for x in xs], y[idx], criterion)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach().double() * len(idx)
            seen += len(idx)
        record = {"epoch": epoch, "train_loss": float(total) / max(per_epoch, 1)}
        if val is not None and len(val):
            logits = predict_logits(model, val, device=device)
            val_loss = float(nn.functional.cross_entropy(
                torch.from_numpy(logits), torch.from_numpy(val.labels)))
            m = classification_metrics(val.labels, logits.argmax(1), train.classes or range(n_classes))
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
    if best_state is not None:
        model.load_state_dict(best_state)
    elapsed = time.perf_counter() - start
    return TrainResult(best_epoch, len(history), history, elapsed, seen / max(elapsed, 1e-9),
                       amp=amp)
