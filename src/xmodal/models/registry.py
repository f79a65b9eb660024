"""Build a network from a :class:`~xmodal.config.ModelConfig` and the input shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xmodal.config import MODEL_NAMES, ModelConfig
from xmodal.errors import ConfigError
from xmodal.models.base import XModalModel, validate_input_shapes, validate_n_outputs
from xmodal.models.early_fusion import EarlyFusionNet
from xmodal.models.ensemble import SeedEnsemble
from xmodal.models.multimodal import CrossModalNet
from xmodal.models.score_fusion import ScoreFusionNet

__all__ = ["MODEL_NAMES", "build_model", "check_modality_count"]


def check_modality_count(name: str, modalities: Sequence[str]) -> None:
    """ConfigError unless network ``name`` takes this many modalities: ``single`` exactly one,
    the fusion models two or more."""
    names = " ".join(modalities)
    if name == "single":
        if len(modalities) != 1:
            raise ConfigError(
                f"model 'single' takes exactly one modality, got "
                f"{len(modalities)}: {names}; use a fusion model or pick one"
            )
    elif len(modalities) < 2:
        raise ConfigError(
            f"model {name!r} fuses modalities and needs at least two, got "
            f"{len(modalities)} ({names}); use --model single for one"
        )


def build_model(
    config: ModelConfig, input_shapes: Mapping[str, Sequence[int]], n_outputs: int
) -> XModalModel:
    """Network named by ``config.name`` for the given inputs.

    Parameters
    ----------
    config : ModelConfig
        Model settings; presets are resolved and validated here.
    input_shapes : mapping of str to (int, int)
        Ordered ``{modality: (n_channels, n_times)}``; the order is the input order.
    n_outputs : int
        Number of classes.

    Returns
    -------
    XModalModel
        ``attentive``/``cross``/``late-fusion``/``single``: :class:`CrossModalNet`;
        ``early-fusion``: :class:`EarlyFusionNet`; ``score-fusion``: :class:`ScoreFusionNet`.

    Raises
    ------
    ConfigError
        Unknown or inconsistent settings; ``single`` with other than one modality; a fusion
        model with fewer than two; ``attentive``/``cross`` without connection blocks.
    """
    cfg = config.resolved()
    shapes = validate_input_shapes(input_shapes)
    validate_n_outputs(n_outputs)
    if cfg.name == "features":
        raise ConfigError(
            "model 'features' is the scikit-learn baseline, not a network "
            "(see xmodal.models.features); it has no build_model"
        )
    check_modality_count(cfg.name, list(shapes))
    if cfg.name in ("attentive", "cross") and not cfg.connections:
        raise ConfigError(
            f"model {cfg.name!r} needs at least one connection block "
            f"(connections is empty); use 'late-fusion' for none"
        )
    stream = dict(
        widths=cfg.widths,
        kernels=cfg.kernels,
        pool_size=cfg.pool_size,
        pool_stride=cfg.pool_stride,
        convs_per_block=cfg.convs_per_block,
        batch_norm=cfg.batch_norm,
        stem_stride=cfg.stem_stride,
        dropout=cfg.dropout,
        head_hidden=cfg.head_hidden,
    )
    if cfg.ensemble > 1:
        import dataclasses

        member = dataclasses.replace(cfg, ensemble=1)
        return SeedEnsemble([build_model(member, shapes, n_outputs) for _ in range(cfg.ensemble)])
    if cfg.name in ("attentive", "cross"):
        return CrossModalNet(
            shapes,
            n_outputs,
            connections=cfg.connections,
            direction=cfg.direction,
            attention=cfg.name == "attentive",
            gate=cfg.gate,
            aux_heads=cfg.aux_heads,
            experts=cfg.output == "experts",
            **stream,
        )
    if cfg.name == "late-fusion":
        return CrossModalNet(
            shapes,
            n_outputs,
            connections=(),
            aux_heads=cfg.aux_heads,
            experts=cfg.output == "experts",
            **stream,
        )
    if cfg.name == "single":
        return CrossModalNet(shapes, n_outputs, connections=(), **stream)
    if cfg.name == "early-fusion":
        return EarlyFusionNet(shapes, n_outputs, **stream)
    if cfg.name == "score-fusion":
        return ScoreFusionNet(shapes, n_outputs, **stream)
    raise ConfigError(f"unknown model {cfg.name!r}; valid: {', '.join(MODEL_NAMES)}")
