"""Seed ensemble: members of one architecture trained with different seeds, probabilities averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xmodal.errors import ConfigError
from xmodal.models.base import XModalModel


class SeedEnsemble(XModalModel):
    """Average of the members' probabilities; the output is its log (valid for softmax).

    Members are trained each with its own seed and early stopping, together as one stacked
    network where the model allows it, else one after the other (see
    :func:`xmodal.training.recipe.fit_network`); the ensemble itself is never trained as one.

    Parameters
    ----------
    members : sequence of XModalModel
        At least two networks with the same inputs and outputs.
    """

    def __init__(self, members: Sequence[XModalModel]) -> None:
        if len(members) < 2:
            raise ConfigError(f"an ensemble needs at least two members, got {len(members)}")
        first = members[0]
        if any(
            m.input_shapes != first.input_shapes or m.n_outputs != first.n_outputs for m in members
        ):
            raise ConfigError("ensemble members must share input shapes and outputs")
        super().__init__(first.input_shapes, first.n_outputs)
        self.members = nn.ModuleList(members)

    def forward(self, *xs: Tensor) -> Tensor:
        """Log of the mean member probability (batch, n_outputs)."""
        logp = torch.stack([torch.log_softmax(m(*xs), dim=-1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))

    def forward_with_attention(self, *xs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Ensemble output and the attention maps averaged over members."""
        outs = [m.forward_with_attention(*xs) for m in self.members]
        logp = torch.stack([torch.log_softmax(z, dim=-1) for z, _ in outs])
        keys = outs[0][1].keys()
        attention = {k: torch.stack([a[k] for _, a in outs]).mean(0) for k in keys}
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members)), attention

    def embedding(self, *xs: Tensor) -> Tensor:
        """Concatenated member embeddings."""
        return torch.cat([m.embedding(*xs) for m in self.members], dim=1)
