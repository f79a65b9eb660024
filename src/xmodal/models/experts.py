"""Per-sensor experts and their gate (``--output experts``).

A fusion network trained with modality dropout works with any stream withheld, so one network
holds ``n + 1`` experts: the fused model (every stream) and, for each stream, the model that
sees that stream alone (the others send nothing through the connections or to the head). A
small gate reads how each expert judges a window (its class log-probabilities) and weights the
experts' probabilities per window; it is fitted on the inner validation subjects after the
network is trained (:func:`xmodal.training.experts.fit_expert_gate`). Until then the output is
the fused model's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ExpertGate(nn.Module):
    """Linear gate from the experts' log-probabilities to their mixing weights.

    Parameters
    ----------
    n_experts : int
        Fused model plus one per stream.
    n_outputs : int
        Number of classes.
    """

    def __init__(self, n_experts: int, n_outputs: int) -> None:
        super().__init__()
        self.n_experts = n_experts
        self.linear = nn.Linear(n_experts * n_outputs, n_experts)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        # 0: not fitted, the output is the fused expert's; 1: the gated mix
        self.register_buffer("fitted", torch.zeros(()))

    def weights(self, logp: Tensor) -> Tensor:
        """Mixing weights (batch, n_experts) from log-probabilities (n_experts, batch, k)."""
        x = logp.detach().permute(1, 0, 2).reshape(logp.shape[1], -1)
        return torch.softmax(self.linear(x), dim=-1)

    def mix(self, logp: Tensor) -> Tensor:
        """Log of the gated mixture of the experts' probabilities (batch, k)."""
        log_w = torch.log(self.weights(logp).clamp_min(1e-12)).to(logp.dtype)
        return torch.logsumexp(logp + log_w.T[:, :, None], dim=0)


def stream_masks(batch: int, n_streams: int, device) -> list[Tensor]:
    """``keep`` masks (batch, n_streams) of each single-stream expert, in stream order."""
    eye = torch.eye(n_streams, device=device)
    return [eye[i].expand(batch, n_streams) for i in range(n_streams)]
