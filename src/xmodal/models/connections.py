"""Cross-modal connections between two streams.

A connection from source stream ``j`` into target stream ``i``::

    h_j' = align(h_j, len(h_i))               # linear interpolation up / adaptive average down
    z    = ReLU(BN(W_z * [h_i ; h_j']))       # 1x1 conv to C_i channels: shared representation
    a    = gate(W_a * z)                      # 1x1 conv; sigmoid, or softmax over channels
    h_i <- h_i + a * z                        # attentive; plain ``cross``: h_i + z
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xmodal.config import GATES
from xmodal.models.align import Align, align


class CrossModalConnection(nn.Module):
    """Attentive (or plain) connection that adds shared information from a source stream.

    Parameters
    ----------
    target_channels, source_channels : int
        Channels ``C_i`` of the target map and ``C_j`` of the source map.
    attention : bool
        Weight the shared representation by gated attention (``attentive``); False adds it
        unweighted (``cross``) and returns no attention.
    gate : {'sigmoid', 'softmax'}
        Attention gate: element-wise sigmoid, or softmax over the channel axis (weights of every
        time step sum to 1).
    batch_norm : bool
        BatchNorm1d on the shared representation.
    source_length, target_length : int, optional
        Known map lengths; when both are given the alignment is a fixed buffer
        (:class:`~xmodal.models.align.Align`), else it is computed from the shapes at run time.
    """

    def __init__(
        self,
        target_channels: int,
        source_channels: int,
        attention: bool = True,
        gate: str = "sigmoid",
        batch_norm: bool = True,
        source_length: int | None = None,
        target_length: int | None = None,
    ) -> None:
        super().__init__()
        if target_channels < 1 or source_channels < 1:
            raise ValueError(
                f"channels must be positive, got target {target_channels}, source {source_channels}"
            )
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}; valid: {', '.join(GATES)}")
        self.target_channels = int(target_channels)
        self.source_channels = int(source_channels)
        self.attention = bool(attention)
        self.gate = gate
        self.align = (
            Align(source_length, target_length)
            if source_length is not None and target_length is not None
            else None
        )
        layers: list[nn.Module] = [
            nn.Conv1d(target_channels + source_channels, target_channels, 1, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm1d(target_channels))
        layers.append(nn.ReLU())
        self.shared = nn.Sequential(*layers)
        if self.attention:
            self.attend = nn.Conv1d(target_channels, target_channels, 1)
            self.gate_fn = nn.Sigmoid() if gate == "sigmoid" else nn.Softmax(dim=1)
        else:
            self.attend = None
            self.gate_fn = None

    def delta(self, h_i: Tensor, h_j: Tensor) -> tuple[Tensor, Tensor | None]:
        """The update ``a * z`` (or ``z``) for the target and the attention ``a`` (or None).

        Parameters
        ----------
        h_i : Tensor
            Target map (batch, C_i, L_i).
        h_j : Tensor
            Source map (batch, C_j, L_j).
        """
        if self.align is not None:
            aligned = self.align(h_j)
        else:
            aligned = align(h_j, h_i.shape[-1])
        z = self.shared(torch.cat([h_i, aligned], dim=1))
        if self.attend is None:
            return z, None
        a = self.gate_fn(self.attend(z))
        return a * z, a

    def forward(self, h_i: Tensor, h_j: Tensor) -> tuple[Tensor, Tensor | None]:
        """Return the updated target map (batch, C_i, L_i) and the attention (same shape, values
        in [0, 1]) or None without attention."""
        update, a = self.delta(h_i, h_j)
        return h_i + update, a

    def extra_repr(self) -> str:
        return f"attention={self.attention}, gate={self.gate!r}"
