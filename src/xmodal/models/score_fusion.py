"""Score fusion baseline: independent single-modality networks, probabilities averaged."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from xmodal.models.base import XModalModel
from xmodal.models.multimodal import CrossModalNet


class ScoreFusionNet(XModalModel):
    """One single-modality :class:`CrossModalNet` per modality; output = log of the mean of
    the members' softmax probabilities.

    ``softmax``/``argmax`` of the output are therefore those of the averaged probabilities, and
    the output is a valid input to ``CrossEntropyLoss``/``NLLLoss``. :meth:`compute_loss` trains
    the members independently: the sum of each member's loss on its own logits.

    Parameters
    ----------
    input_shapes : mapping of str to (int, int)
        ``{modality: (n_channels, n_times)}`` in input order.
    n_outputs : int
        Number of classes.
    **stream_kwargs
        Passed to every member :class:`CrossModalNet` (``widths``, ``kernels``, ``pool_size``,
        ``pool_stride``, ``convs_per_block``, ``batch_norm``, ``stem_stride``, ``dropout``, ``head_hidden``);
        members have no connections.
    """

    def __init__(
        self, input_shapes: Mapping[str, Sequence[int]], n_outputs: int, **stream_kwargs: Any
    ) -> None:
        super().__init__(input_shapes, n_outputs)
        for key in ("connections", "direction", "attention", "gate"):
            stream_kwargs.pop(key, None)
        self.members = nn.ModuleList(
            CrossModalNet({name: shape}, n_outputs, connections=(), **stream_kwargs)
            for name, shape in self.input_shapes.items()
        )

    def member_logits(self, *xs: Tensor) -> list[Tensor]:
        """Each member's logits (batch, n_outputs), in modality order."""
        self.check_inputs(*xs)
        return [member(x) for member, x in zip(self.members, xs)]

    def forward(self, *xs: Tensor) -> Tensor:
        """Log of the mean member probability (batch, n_outputs)."""
        logp = torch.stack([torch.log_softmax(z, dim=-1) for z in self.member_logits(*xs)])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))

    def compute_loss(
        self, xs: Sequence[Tensor], y: Tensor, criterion: Callable[[Tensor, Tensor], Tensor]
    ) -> Tensor:
        """Sum of the members' losses on their own logits."""
        losses = [criterion(z, y) for z in self.member_logits(*xs)]
        return sum(losses[1:], losses[0])

    def embedding(self, *xs: Tensor) -> Tensor:
        """Concatenated member embeddings (batch, sum of member features)."""
        self.check_inputs(*xs)
        return torch.cat([m.embedding(x) for m, x in zip(self.members, xs)], dim=1)
