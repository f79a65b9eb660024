"""Self-supervised pretraining of the stream encoders on unlabelled time.

Cross-modal contrastive learning: windows of two modalities cut from the same moment are
positives, every other pairing in the batch is a negative (a symmetric InfoNCE loss over the
projected embeddings of each pair of modalities, as in CLIP). It needs no labels, so it can use
the transient parts of a recording (about two thirds of a WESAD session) and recordings without
any labels.

The encoders are those of the fusion model (stem and blocks of each stream, without the
connections), so :func:`load_encoders` copies them into a model of the same preset and window.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xmodal.config import ModelConfig, RunConfig, TrainConfig
from xmodal.errors import ConfigError
from xmodal.models.blocks import StreamEncoder
from xmodal.signals.windows import WindowSet
from xmodal.training.augment import augment_windows
from xmodal.training.precision import autocast_context, training_precision

#: the file of a pretraining folder that holds the encoders' weights
ENCODERS_FILE = "encoders.pt"
RECORD_FILE = "pretrain.json"


@dataclass
class PretrainResult:
    """What pretraining produced: per-epoch loss, windows seen, time."""

    losses: list[float]
    n_windows: int
    subjects: list[str]
    train_s: float


class ContrastiveEncoders(nn.Module):
    """One :class:`StreamEncoder` per modality with a projection head for the contrastive loss."""

    def __init__(
        self, model: ModelConfig, input_shapes: dict[str, tuple[int, int]], projection: int = 64
    ) -> None:
        super().__init__()
        cfg = model.resolved()
        self.modalities = list(input_shapes)
        if len(self.modalities) < 2:
            raise ConfigError("cross-modal pretraining needs at least two modalities")
        self.encoders = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        for name, (channels, n_times) in input_shapes.items():
            enc = StreamEncoder(
                channels,
                n_times,
                cfg.widths,
                cfg.kernels,
                cfg.pool_size,
                cfg.pool_stride,
                cfg.convs_per_block,
                cfg.batch_norm,
                cfg.stem_stride,
            )
            self.encoders[_key(name)] = enc
            self.projections[_key(name)] = nn.Sequential(
                nn.Linear(enc.n_features, enc.n_features),
                nn.ReLU(),
                nn.Linear(enc.n_features, projection),
            )
        self.log_temperature = nn.Parameter(torch.tensor(float(np.log(1 / 0.1))))

    def embed(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Unit-length projected embedding of each modality (batch, projection)."""
        return [
            F.normalize(self.projections[_key(m)](self.encoders[_key(m)](x).mean(-1)), dim=1)
            for m, x in zip(self.modalities, xs)
        ]

    def loss(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Symmetric InfoNCE over every pair of modalities."""
        return self.info_nce(self.embed(xs))

    def info_nce(self, zs: list[torch.Tensor]) -> torch.Tensor:
        """Symmetric InfoNCE of embeddings (see :meth:`embed`), computed in float32 (call it
        outside autocast: the similarity logits are scaled by up to 100)."""
        zs = [z.float() for z in zs]
        scale = self.log_temperature.exp().clamp(max=100.0)
        target = torch.arange(len(zs[0]), device=zs[0].device)
        total, pairs = 0.0, 0
        for i in range(len(zs)):
            for j in range(i + 1, len(zs)):
                logits = scale * zs[i] @ zs[j].T
                total = (
                    total
                    + (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
                )
                pairs += 1
        return total / pairs


def pretraining_precision(training: TrainConfig) -> str:
    """The precision of in-fold pretraining, which runs on the CPU: the run's (see
    :func:`~xmodal.training.precision.training_precision`), with ``fp16`` (a CUDA-only choice)
    as ``auto``."""
    if training.precision == "fp16":
        training = dataclasses.replace(training, precision="auto")
    return training_precision(training, "cpu")


def _key(modality: str) -> str:
    return modality.replace(".", "_")


def contrastive_pretrain(
    windows: WindowSet,
    model: ModelConfig,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    augment: float = 0.5,
    max_windows: int = 20000,
    precision: str = "fp32",
) -> tuple[ContrastiveEncoders, PretrainResult]:
    """Pretrain stream encoders on (unlabelled) windows with the cross-modal contrastive loss.

    Parameters
    ----------
    windows : WindowSet
        Windows of two or more modalities; labels are ignored.
    model : ModelConfig
        The stream settings (preset, widths, ...) of the model the encoders will initialise.
    epochs, batch_size, lr, seed : int, int, float, int
        Optimisation; ``seed`` fixes initialisation, order and augmentation.
    augment : float
        Strength of the augmentation applied to each view (see
        :func:`~xmodal.training.augment.augment_windows`).
    max_windows : int
        At most this many windows per epoch (drawn at random).
    precision : str
        A resolved precision (``fp32`` or ``bf16``): the encoders run under its autocast, the
        loss in float32.

    Returns
    -------
    ContrastiveEncoders, PretrainResult
    """
    if len(windows) < 2:
        raise ConfigError("pretraining needs at least two windows")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ContrastiveEncoders(model, windows.input_shapes)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    xs = [torch.from_numpy(windows.inputs[m]) for m in windows.modalities]
    rates = [float(windows.rates[m]) for m in windows.modalities]
    n = len(windows)
    per_epoch = min(n, max_windows)
    losses = []
    start = time.perf_counter()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)[:per_epoch]
        total, count = 0.0, 0
        for i in range(0, per_epoch, batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 4:
                continue
            batch = augment_windows([x[idx] for x in xs], rates, augment, generator)
            with autocast_context(precision, "cpu"):
                zs = net.embed(batch)
            loss = net.info_nce(zs)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        losses.append(total / max(count, 1))
    result = PretrainResult(
        losses, n, sorted(set(windows.subjects.tolist())), time.perf_counter() - start
    )
    return net.eval(), result


def encoder_state(net: ContrastiveEncoders) -> dict[str, torch.Tensor]:
    """The encoders' weights keyed ``"<modality>/<parameter>"`` (projection heads dropped)."""
    return {
        f"{m}/{k}": v.detach().cpu().clone()
        for m in net.modalities
        for k, v in net.encoders[_key(m)].state_dict().items()
    }


def load_encoders(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Copy pretrained encoder weights into the streams of ``model`` with the same modality.

    Returns the modalities initialised. A stream whose shapes differ (another preset, window or
    rate) is a one-line :class:`ConfigError` naming ``source``.
    """
    done = []
    for i, modality in enumerate(getattr(model, "modalities", [])):
        part = {k.split("/", 1)[1]: v for k, v in state.items() if k.split("/", 1)[0] == modality}
        if not part:
            continue
        try:
            model.encoders[i].load_state_dict(part)
        except RuntimeError:
            raise ConfigError(
                f"{source}: the pretrained {modality} encoder does not fit this "
                f"model (another preset, window or sampling rate)"
            ) from None
        done.append(modality)
    if not done:
        raise ConfigError(
            f"{source}: holds no encoder of the model's modalities "
            f"({', '.join(getattr(model, 'modalities', []))})"
        )
    return done


def read_pretrain_record(folder: str | Path) -> dict:
    """``pretrain.json`` of an ``xmodal pretrain`` folder, with the subjects it read.

    Raises
    ------
    ConfigError
        One line: the file is missing, unreadable, or lists no subjects (a run started from
        such encoders could not tell whether its test subjects were pretrained on).
    """
    from xmodal.files import read_json

    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found (--init takes a folder written by xmodal pretrain; its "
            f"pretrain.json lists the subjects the encoders saw)"
        )
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable as JSON ({exc})") from None
    subjects = record.get("subjects") if isinstance(record, dict) else None
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise ConfigError(f"{path}: key 'subjects' must be a list of subject names")
    return record


def pretrain_to_folder(
    config: RunConfig,
    out: Path,
    epochs: int,
    on_subject=None,
    backend=None,
    exclude: tuple[str, ...] | list[str] = (),
) -> dict:
    """``xmodal pretrain``: pretrain on every window of the selected subjects, write ``out``.

    Writes ``out/encoders.pt`` (a state dict; load with ``weights_only=True``) and
    ``out/pretrain.json`` (subjects, modalities, input shapes, window, losses). Labels are never
    read into the loss; the subjects used are recorded so that a later ``train --init`` can
    tell whether its test subjects were among them. With an execution ``backend`` (e.g.
    :class:`~xmodal.training.ray_backend.RayBackend`) the pretraining runs as one task there.
    ``exclude`` leaves subjects out (``--exclude``, e.g. the subjects a later run tests on).
    """
    from xmodal.data.datasets import find_subjects
    from xmodal.files import atomic_write_json, save_state_dict
    from xmodal.signals.pipeline import prepare_subjects, windows_of
    from xmodal.version import __version__

    if epochs < 1:
        raise ConfigError(f"--pretrain-epochs must be at least 1, got {epochs}")
    if exclude:
        found = list(find_subjects(config.data.dataset, config.data.path, config.data.subjects))
        unknown = [s for s in exclude if s not in found]
        if unknown:
            raise ConfigError(
                f"--exclude: subject {unknown[0]!r} is not in {config.data.path} "
                f"(subjects: {', '.join(found)})"
            )
        kept = [s for s in found if s not in exclude]
        if not kept:
            raise ConfigError("--exclude leaves no subject to pretrain on")
        config = config.updated({"data": {"subjects": kept}}, "--exclude")
    precision = training_precision(config.training, "cpu")  # fp16: an error, early
    prepared = prepare_subjects(config.data, on_subject=on_subject)
    windows = windows_of(
        prepared, None, config.data.window, config.data.train_stride, keep_unlabelled=True
    )
    call = backend.call if backend is not None else (lambda fn, *a, **k: fn(*a, **k))
    net, result = call(
        contrastive_pretrain,
        windows,
        config.model,
        epochs=epochs,
        seed=config.training.seed,
        precision=precision,
    )
    out = Path(out)
    save_state_dict(out / ENCODERS_FILE, encoder_state(net))
    record = {
        "subjects": result.subjects,
        "excluded": list(exclude),
        "n_windows": result.n_windows,
        "modalities": list(windows.modalities),
        "input_shapes": {m: list(s) for m, s in windows.input_shapes.items()},
        "window": config.data.window,
        "rates": windows.rates,
        "epochs": epochs,
        "losses": [round(v, 5) for v in result.losses],
        "train_s": result.train_s,
        "precision": {"requested": config.training.precision, "resolved": precision},
        "config": config.to_dict(),
        "xmodal_version": __version__,
    }
    atomic_write_json(out / RECORD_FILE, record)
    return record
