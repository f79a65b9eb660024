"""Training one fold's network with the fusion recipe: warm start, ensembles, output mixing.

:func:`fit_network` builds and trains the configured network on a fold's training windows,
with early stopping and every choice made on the fold's inner validation windows only:

* ``training.warm_start``: each stream is first trained alone (a ``single`` model on the same
  windows, same early stopping); the fusion model starts from those encoders, which then
  learn at ``warm_lr_factor`` times the learning rate;
* ``model.ensemble`` K: K members with different seeds, trained together as one stacked
  network (:mod:`xmodal.training.stacked_trainer`; ``training.stack_members``), or one after
  another where stacking does not cover the settings (``info["members"]`` says which and why);
* ``model.output`` (per-stream heads): ``val`` picks the mix of the fused and per-stream heads
  that scores best on the inner validation windows; ``blend`` uses the final
  gradient-blending weights; ``mean`` averages all heads.

Losses, modality dropout, OGM-GE, augmentation and weight averaging happen per step in
:func:`xmodal.training.trainer.train_model`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from xmodal.config import RunConfig
from xmodal.errors import ConfigError
from xmodal.models.base import XModalModel
from xmodal.models.checkpoint import read_checkpoint
from xmodal.models.ensemble import SeedEnsemble
from xmodal.models.registry import build_model
from xmodal.signals.windows import WindowSet
from xmodal.training.experts import fit_expert_gate
from xmodal.training.metrics import classification_metrics
from xmodal.training.pretrain import (
    ENCODERS_FILE,
    contrastive_pretrain,
    encoder_state,
    load_encoders,
    pretraining_precision,
)
from xmodal.training.stacked_trainer import stack_unsupported, train_stacked
from xmodal.training.trainer import TrainResult, head_logits, resolve_device, softmax, train_model

#: grid step of the head mixes tried by ``output = "val"``
MIX_STEP = 0.25


def _modality_subset(windows: WindowSet, modality: str) -> WindowSet:
    return WindowSet(
        {modality: windows.inputs[modality]},
        windows.subjects,
        windows.labels,
        windows.t_start,
        windows.rates,
        windows.classes,
        windows.window,
    )


def _warm_start(
    model: XModalModel,
    config: RunConfig,
    train: WindowSet,
    val: WindowSet | None,
    n_classes: int,
    seed: int,
) -> float:
    """Train each stream alone and copy its encoder into ``model``; return the seconds spent."""
    spent = 0.0
    single = dataclasses.replace(
        config.model, name="single", aux_heads=False, output="fused", ensemble=1
    )
    train_cfg = dataclasses.replace(
        config.training,
        seed=seed,
        warm_start=False,
        modality_dropout=0.0,
        aux_weight=0.0,
        gblend=False,
        ogm_alpha=0.0,
        swa=False,
    )
    for i, modality in enumerate(model.modalities):
        part = _modality_subset(train, modality)
        alone = build_model(single, part.input_shapes, n_classes)
        result = train_model(
            alone, part, _modality_subset(val, modality) if val else None, train_cfg, n_classes
        )
        spent += result.train_s
        model.encoders[i].load_state_dict(alone.encoders[0].state_dict())
    return spent


def _mixes(n_heads: int, step: float = MIX_STEP) -> list[np.ndarray]:
    """Weight vectors on the simplex with the given step, the fused head alone first."""
    ticks = int(round(1 / step))
    out = [np.eye(n_heads)[0]]
    for combo in itertools.product(range(ticks + 1), repeat=n_heads):
        if sum(combo) == ticks:
            w = np.array(combo, dtype=float) / ticks
            if not np.allclose(w, out[0]):
                out.append(w)
    return out


def choose_mix(logits: list[np.ndarray], labels: np.ndarray, classes) -> np.ndarray:
    """The head mix with the best inner-validation macro-F1 (ties: lower log-loss, then the
    fused head alone, then the grid order)."""
    probs = np.stack([softmax(z) for z in logits])  # (heads, n, classes)
    best, best_key = None, None
    for w in _mixes(len(logits)):
        p = np.tensordot(w, probs, axes=1)
        f1 = classification_metrics(labels, p.argmax(1), classes)["macro_f1"]
        nll = -float(np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))
        key = (round(f1, 9), -nll)
        if best_key is None or key > best_key:
            best, best_key = w, key
    return best


def _set_output(
    model: XModalModel,
    config: RunConfig,
    val: WindowSet | None,
    result: TrainResult,
    n_classes: int,
) -> list[float] | None:
    if getattr(model, "aux_heads", None) is None:
        return None
    n_heads = len(model.head_names)
    mode = config.model.output
    if mode == "mean":
        weights = np.full(n_heads, 1.0 / n_heads)
    elif mode == "blend" and result.head_weights:
        weights = np.asarray(result.head_weights, dtype=float)
    elif mode == "val" and val is not None and len(val):
        device = resolve_device(config.training.device)
        logits = head_logits(model, val, device=device, precision=result.precision)
        weights = choose_mix(logits, val.labels, val.classes or range(n_classes))
    else:
        weights = np.eye(n_heads)[0]
    model.output_weights.copy_(torch.as_tensor(weights, dtype=torch.float32))
    return [round(float(w), 4) for w in weights]


def read_pretrained(folder: str) -> dict[str, torch.Tensor]:
    """Encoder weights saved by ``xmodal pretrain`` (loaded with ``weights_only=True``)."""
    path = Path(folder) / ENCODERS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found (--init takes a folder written by xmodal pretrain)")
    return read_checkpoint(path)


def fit_network(
    config: RunConfig,
    train: WindowSet,
    val: WindowSet | None,
    n_classes: int,
    input_shapes: dict,
    seed: int,
    on_epoch: Callable[[dict], None] | None = None,
    unlabelled: WindowSet | None = None,
) -> tuple[XModalModel, dict]:
    """Build and train the configured network for one fold.

    Parameters
    ----------
    config : RunConfig
        The run's configuration (model, training recipe).
    train, val : WindowSet
        The fold's training windows and inner-validation windows (None: no early stopping).
    n_classes : int
        Number of classes.
    input_shapes : dict
        ``{modality: (channels, n_times)}``.
    seed : int
        Seed of this fold's global torch generator for members after the first (the caller
        seeds it before the call; member k reseeds with ``seed + 7919 k``).
    on_epoch : callable, optional
        Progress callback of :func:`~xmodal.training.trainer.train_model`.
    unlabelled : WindowSet, optional
        Windows for in-fold contrastive pretraining (``training.pretrain_epochs``); the caller
        chooses their subjects (the fold's training subjects unless ``transductive``).

    Returns
    -------
    model : XModalModel
        The trained network (a :class:`~xmodal.models.ensemble.SeedEnsemble` for K > 1).
    info : dict
        ``best_epoch``, ``epochs_run``, ``train_s`` (all members and warm starts),
        ``windows_per_s``, ``history`` (first member), ``precision`` (resolved),
        ``output_weights`` per member.
    """
    model = build_model(config.model, input_shapes, n_classes)
    members = list(model.members) if isinstance(model, SeedEnsemble) else [model]
    results, weights, gates, warm_s = [], [], [], 0.0
    pretrained, pretrain_info = None, None
    if config.training.init:
        pretrained = read_pretrained(config.training.init)
        pretrain_info = {"source": config.training.init}
    elif config.training.pretrain_epochs > 0 and unlabelled is not None and len(unlabelled):
        net, done = contrastive_pretrain(
            unlabelled,
            config.model,
            epochs=config.training.pretrain_epochs,
            seed=config.training.seed + seed,
            precision=pretraining_precision(config.training),
        )
        pretrained = encoder_state(net)
        warm_s += done.train_s
        pretrain_info = {
            "subjects": done.subjects,
            "n_windows": done.n_windows,
            "losses": [round(v, 4) for v in done.losses],
            "train_s": done.train_s,
            "transductive": config.training.transductive,
        }
    stacked, how = _stack_plan(members, config)
    if stacked:
        if pretrained is not None:
            for member in members:
                load_encoders(member, pretrained, config.training.init or "in-fold pretraining")
        model, info = _fit_members_stacked(
            members, model, config, train, val, n_classes, seed, on_epoch
        )
        info["warm_start_s"] = warm_s
        info["train_s"] += warm_s
        if pretrain_info is not None:
            info["pretraining"] = pretrain_info
        return model, info
    for k, member in enumerate(members):
        if k:  # members differ in initialisation and seed
            torch.manual_seed(seed + 7919 * k)
        train_cfg = dataclasses.replace(config.training, seed=config.training.seed + 7919 * k)
        factor = 1.0
        if pretrained is not None and hasattr(member, "encoders"):
            load_encoders(member, pretrained, config.training.init or "in-fold pretraining")
        if (
            config.training.warm_start
            and len(member.modalities) > 1
            and hasattr(member, "encoders")
        ):
            warm_s += _warm_start(member, config, train, val, n_classes, train_cfg.seed)
            factor = config.training.warm_lr_factor
        result = train_model(
            member,
            train,
            val,
            train_cfg,
            n_classes,
            on_epoch=on_epoch if k == 0 else None,
            encoder_lr_factor=factor,
        )
        weights.append(_set_output(member, config, val, result, n_classes))
        gates.append(
            fit_expert_gate(
                member, val, n_classes, train_cfg.seed, resolve_device(config.training.device)
            )
        )
        results.append(result)
    train_s = warm_s + sum(r.train_s for r in results)
    info = {
        "best_epoch": results[0].best_epoch,
        "epochs_run": results[0].epochs_run,
        "train_s": train_s,
        "warm_start_s": warm_s,
        "windows_per_s": float(np.mean([r.windows_per_s for r in results])),
        "history": results[0].history,
        "precision": results[0].precision,
    }
    if how:
        info["members"] = how
        info["member_epochs"] = [r.epochs_run for r in results]
    if any(w is not None for w in weights):
        info["output_weights"] = weights
    if any(g is not None for g in gates):
        info["expert_gate"] = gates
    if pretrain_info is not None:
        info["pretraining"] = pretrain_info
    return model, info


def _stack_plan(members: list[XModalModel], config: RunConfig) -> tuple[bool, str]:
    """Whether the members train stacked, and how they train in words (empty: one network)."""
    if len(members) < 2:
        return False, ""
    if not config.training.stack_members:
        return False, "one after another (stack_members off)"
    why = stack_unsupported(members, config.training)
    if why:
        return False, f"one after another ({why} not stacked)"
    return True, "stacked"


def _fit_members_stacked(
    members: list[XModalModel],
    model: XModalModel,
    config: RunConfig,
    train: WindowSet,
    val: WindowSet | None,
    n_classes: int,
    seed: int,
    on_epoch: Callable[[dict], None] | None,
) -> tuple[XModalModel, dict]:
    """Train the members together (see :mod:`xmodal.training.stacked_trainer`), each with
    the seeds it has when trained alone: training seed ``seed + 7919 k`` and dropout masks
    from the global generator (member 0: as it stands now; member k: reseeded ``seed + 7919 k``)."""
    device = resolve_device(config.training.device)
    configs = [
        dataclasses.replace(config.training, seed=config.training.seed + 7919 * k)
        for k in range(len(members))
    ]
    generators = [torch.Generator(device) for _ in members]
    generators[0].set_state(
        torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()
    )
    for k in range(1, len(members)):
        generators[k].manual_seed(seed + 7919 * k)
    results, seconds = train_stacked(members, train, val, configs, n_classes, generators, on_epoch)
    if device.type == "cpu":  # the global generator as the last member left it
        torch.set_rng_state(generators[-1].get_state())
    info = {
        "best_epoch": results[0].best_epoch,
        "epochs_run": results[0].epochs_run,
        "train_s": seconds,
        "windows_per_s": results[0].windows_per_s,
        "history": results[0].history,
        "precision": results[0].precision,
        "members": "stacked",
        "member_epochs": [r.epochs_run for r in results],
    }
    return model, info
