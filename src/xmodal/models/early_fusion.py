"""Early fusion baseline: all modalities resampled to one length and stacked as channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from xmodal.errors import ConfigError
from xmodal.models.align import Align
from xmodal.models.base import STREAM_DEFAULTS as D
from xmodal.models.base import XModalModel
from xmodal.models.blocks import ClassifierHead, StreamEncoder


class EarlyFusionNet(XModalModel):
    """Every input aligned to ``common_length`` (see :mod:`xmodal.models.align`), stacked as
    channels, one :class:`StreamEncoder`, global average pooling and an MLP head.

    Parameters
    ----------
    input_shapes : mapping of str to (int, int)
        ``{modality: (n_channels, n_times)}`` in input order.
    n_outputs : int
        Number of classes.
    common_length : int, optional
        Length every modality is resampled to; default the longest ``n_times``.
    widths, kernels, pool_size, pool_stride, convs_per_block, batch_norm, stem_stride,
    dropout, head_hidden
        As for :class:`~xmodal.models.multimodal.CrossModalNet`.
    """

    def __init__(
        self,
        input_shapes: Mapping[str, Sequence[int]],
        n_outputs: int,
        *,
        common_length: int | None = None,
        widths: Sequence[int] = D["widths"],
        kernels: Sequence[int] = D["kernels"],
        pool_size: int = D["pool_size"],
        pool_stride: int = D["pool_stride"],
        convs_per_block: int = D["convs_per_block"],
        batch_norm: bool = D["batch_norm"],
        stem_stride: int = D["stem_stride"],
        dropout: float = D["dropout"],
        head_hidden: int = D["head_hidden"],
    ) -> None:
        super().__init__(input_shapes, n_outputs)
        if common_length is None:
            common_length = max(t for _, t in self.input_shapes.values())
        if (
            isinstance(common_length, bool)
            or int(common_length) != common_length
            or common_length < 1
        ):
            raise ConfigError(f"common_length must be a positive integer, got {common_length!r}")
        self.common_length = int(common_length)
        self.aligns = nn.ModuleList(
            Align(t, self.common_length) for _, t in self.input_shapes.values()
        )
        n_channels = sum(c for c, _ in self.input_shapes.values())
        try:
            self.encoder = StreamEncoder(
                n_channels,
                self.common_length,
                widths,
                kernels,
                pool_size,
                pool_stride,
                convs_per_block,
                batch_norm,
                stem_stride,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid stream settings: {exc}") from None
        self.n_features = self.encoder.n_features
        self.head = ClassifierHead(self.n_features, head_hidden, self.n_outputs, dropout)

    def embedding(self, *xs: Tensor) -> Tensor:
        """Globally pooled features of the fused stream (batch, n_features)."""
        self.check_inputs(*xs)
        x = torch.cat([align(x) for align, x in zip(self.aligns, xs)], dim=1)
        return self.encoder(x).mean(dim=-1)

    def forward(self, *xs: Tensor) -> Tensor:
        """Logits (batch, n_outputs)."""
        return self.head(self.embedding(*xs))
