"""Multi-stream CNN with cross-modal connections between streams (the paper's model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from xmodal.config import DIRECTIONS, GATES
from xmodal.errors import ConfigError
from xmodal.models.base import STREAM_DEFAULTS as D
from xmodal.models.base import XModalModel
from xmodal.models.blocks import ClassifierHead, StreamEncoder
from xmodal.models.connections import CrossModalConnection
from xmodal.models.experts import ExpertGate, stream_masks


def connection_pairs(n_streams: int, direction: str) -> list[tuple[int, int]]:
    """Ordered ``(source, target)`` stream indices connected for ``direction``.

    ``both``: every ordered pair; ``a2b``: from the first stream into each other stream;
    ``b2a``: from each other stream into the first. One stream: no pairs.
    """
    if direction not in DIRECTIONS:
        raise ConfigError(f"unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")
    if direction == "both":
        return [(j, i) for i in range(n_streams) for j in range(n_streams) if i != j]
    if direction == "a2b":
        return [(0, i) for i in range(1, n_streams)]
    return [(j, 0) for j in range(1, n_streams)]


class CrossModalNet(XModalModel):
    """One CNN stream per modality, cross-modal connections after chosen blocks, fused head.

    After block ``k`` (1-based, listed in ``connections``) every connected target stream ``i``
    becomes ``h_i + sum_j a_ij * z_ij`` over its sources ``j``, all computed from the maps of
    block ``k`` *before* any connection of that block (so both directions see the same inputs).
    Head: per-stream global average pooling -> concatenation (in modality order) -> MLP.

    With ``attention=False`` the connections are plain (``cross``); with no ``connections`` the
    model is late fusion; with one modality it is a single-modality CNN.

    The defaults are those of the command line's default model
    (:data:`~xmodal.models.base.STREAM_DEFAULTS`).

    Parameters
    ----------
    input_shapes : mapping of str to (int, int)
        ``{modality: (n_channels, n_times)}`` in input order.
    n_outputs : int
        Number of classes.
    widths, kernels : sequence of int
        Per-block channels and kernels (shared by all streams; adapted per stream length).
    pool_size, pool_stride : int
        Max-pooling of every block (adapted per stream length).
    convs_per_block : int
        Conv layers per block.
    batch_norm : bool
        BatchNorm in blocks and connections.
    stem_stride : int
        Strided stem of each long stream (see :class:`~xmodal.models.blocks.StreamEncoder`).
    dropout : float
        Dropout in the head.
    connections : sequence of int
        Blocks (1-based) after which the streams connect.
    direction : {'both', 'a2b', 'b2a'}
        Which streams feed which (see :func:`connection_pairs`).
    attention : bool
        Attentive (True) or plain (False) connections.
    gate : {'sigmoid', 'softmax'}
        Attention gate.
    head_hidden : int
        Hidden units of the head.
    aux_heads : bool
        Add a linear head on each stream's pooled features (two or more streams). They are
        trained with auxiliary losses (see :meth:`head_logits`) and the output mixes the
        heads' probabilities with the weights in the ``output_weights`` buffer (fused head
        only until training sets them).
    experts : bool
        Per-sensor experts (two or more streams, no ``aux_heads``): the output mixes the fused
        model and each stream alone with a gate fitted on validation windows (see
        :mod:`xmodal.models.experts`); the fused model alone until the gate is fitted.
    """

    def __init__(
        self,
        input_shapes: Mapping[str, Sequence[int]],
        n_outputs: int,
        *,
        widths: Sequence[int] = D["widths"],
        kernels: Sequence[int] = D["kernels"],
        pool_size: int = D["pool_size"],
        pool_stride: int = D["pool_stride"],
        convs_per_block: int = D["convs_per_block"],
        batch_norm: bool = D["batch_norm"],
        stem_stride: int = D["stem_stride"],
        dropout: float = D["dropout"],
        connections: Sequence[int] = D["connections"],
        direction: str = D["direction"],
        attention: bool = True,
        gate: str = D["gate"],
        head_hidden: int = D["head_hidden"],
        aux_heads: bool = D["aux_heads"],
        experts: bool = False,
    ) -> None:
        super().__init__(input_shapes, n_outputs)
        n_blocks = len(widths)
        if len(kernels) != n_blocks or n_blocks == 0:
            raise ConfigError(
                f"widths {tuple(widths)} and kernels {tuple(kernels)} must be "
                f"non-empty and of equal length"
            )
        bad = [k for k in connections if not 1 <= k <= n_blocks]
        if bad:
            raise ConfigError(
                f"connection after block {bad[0]} but the streams have {n_blocks} "
                f"blocks (valid: 1..{n_blocks})"
            )
        if gate not in GATES:
            raise ConfigError(f"unknown gate {gate!r}; valid: {', '.join(GATES)}")
        pairs = connection_pairs(len(self.modalities), direction)
        self.connection_blocks = tuple(sorted(set(int(k) for k in connections)))
        self.direction = direction
        self.attention = bool(attention)
        self.gate = gate
        try:
            self.encoders = nn.ModuleList(
                StreamEncoder(
                    c,
                    t,
                    widths,
                    kernels,
                    pool_size,
                    pool_stride,
                    convs_per_block,
                    batch_norm,
                    stem_stride,
                )
                for c, t in self.input_shapes.values()
            )
        except ValueError as exc:
            raise ConfigError(f"invalid stream settings: {exc}") from None
        # connections[b] holds the connections after block b (0-based), in the order of
        # connection_keys[b] / connection_index[b] = (source, target) stream indices
        self.connections = nn.ModuleList()
        self.connection_keys: list[list[str]] = []
        self.connection_index: list[list[tuple[int, int]]] = []
        for b in range(n_blocks):
            block_pairs = pairs if b + 1 in self.connection_blocks else []
            modules, keys = [], []
            for src, tgt in block_pairs:
                es, et = self.encoders[src], self.encoders[tgt]
                modules.append(
                    CrossModalConnection(
                        et.out_channels[b],
                        es.out_channels[b],
                        attention=attention,
                        gate=gate,
                        batch_norm=batch_norm,
                        source_length=es.out_lengths[b],
                        target_length=et.out_lengths[b],
                    )
                )
                keys.append(f"{self.modalities[src]}->{self.modalities[tgt]}@{b + 1}")
            self.connections.append(nn.ModuleList(modules))
            self.connection_keys.append(keys)
            self.connection_index.append(list(block_pairs))
        self.n_features = sum(e.n_features for e in self.encoders)
        self.head = ClassifierHead(self.n_features, head_hidden, self.n_outputs, dropout)
        self.aux_heads: nn.ModuleList | None = None
        if aux_heads and len(self.encoders) > 1:
            self.aux_heads = nn.ModuleList(
                nn.Linear(e.n_features, self.n_outputs) for e in self.encoders
            )
            weights = torch.zeros(len(self.encoders) + 1)
            weights[0] = 1.0
            self.register_buffer("output_weights", weights)
        if experts and aux_heads:
            raise ConfigError("per-sensor experts replace the per-stream heads: not both")
        self.expert_gate: ExpertGate | None = None
        if experts and len(self.encoders) > 1:
            self.expert_gate = ExpertGate(len(self.encoders) + 1, self.n_outputs)

    @property
    def head_names(self) -> list[str]:
        """Names of the outputs of :meth:`head_logits`: ``fused``, then one per stream."""
        extra = list(self.modalities) if self.aux_heads is not None else []
        return ["fused"] + extra

    @property
    def feature_slices(self) -> dict[str, slice]:
        """Columns of :meth:`embedding` (and of the head's first layer) per modality."""
        out, start = {}, 0
        for name, enc in zip(self.modalities, self.encoders):
            out[name] = slice(start, start + enc.n_features)
            start += enc.n_features
        return out

    def _stream_features(
        self, xs: Sequence[Tensor], attention: dict[str, Tensor] | None, keep: Tensor | None = None
    ) -> list[Tensor]:
        """Pooled features (batch, C) of every stream. ``keep`` (batch, n_streams) of 0/1 drops
        streams per sample (modality dropout): a dropped stream sends nothing through the
        connections, so the others see only their own signal and each other."""
        self.check_inputs(*xs)
        hs = [enc.stem(x) for enc, x in zip(self.encoders, xs)]
        for b in range(len(self.connections)):
            hs = [enc.blocks[b](h) for enc, h in zip(self.encoders, hs)]
            conns = self.connections[b]
            if len(conns) == 0:
                continue
            new = list(hs)
            for conn, (src, tgt), key in zip(
                conns, self.connection_index[b], self.connection_keys[b]
            ):
                update, a = conn.delta(hs[tgt], hs[src])
                if keep is not None:
                    update = update * keep[:, src, None, None]
                new[tgt] = new[tgt] + update
                if attention is not None and a is not None:
                    attention[key] = a
            hs = new
        return [h.mean(dim=-1) for h in hs]

    def _fused(self, feats: Sequence[Tensor], keep: Tensor | None = None) -> Tensor:
        if keep is not None:
            feats = [f * keep[:, i, None] for i, f in enumerate(feats)]
        return self.head(torch.cat(list(feats), dim=1))

    def expert_logits(self, *xs: Tensor) -> list[Tensor]:
        """Logits of the fused model, then of each stream alone (the others withheld)."""
        out = [self._fused(self._stream_features(xs, None))]
        for keep in stream_masks(xs[0].shape[0], len(self.encoders), xs[0].device):
            out.append(self._fused(self._stream_features(xs, None, keep), keep))
        return out

    def _output(self, feats: list[Tensor], xs: Sequence[Tensor] = ()) -> Tensor:
        logits = self._fused(feats)
        gate = self.expert_gate
        if gate is not None and bool(gate.fitted > 0):
            zs = [logits]
            for keep in stream_masks(xs[0].shape[0], len(self.encoders), xs[0].device):
                zs.append(self._fused(self._stream_features(xs, None, keep), keep))
            return gate.mix(torch.stack([torch.log_softmax(z, dim=-1) for z in zs]))
        if self.aux_heads is None:
            return logits
        zs = [logits] + [head(f) for head, f in zip(self.aux_heads, feats)]
        logp = torch.stack([torch.log_softmax(z, dim=-1) for z in zs])
        log_w = torch.log(self.output_weights.clamp_min(1e-12)).to(logp.dtype)
        return torch.logsumexp(logp + log_w[:, None, None], dim=0)

    def head_logits(
        self, *xs: Tensor, keep: Tensor | None = None, detach_aux: bool = False
    ) -> list[Tensor]:
        """Logits of the fused head and, with ``aux_heads``, of each stream's own head.

        ``keep`` (batch, n_streams) drops streams per sample in the fused head and the
        connections; a stream's own head always sees that stream. ``detach_aux``: the
        per-stream heads read the features without passing gradients back (probes).
        """
        feats = self._stream_features(xs, None, keep)
        out = [self._fused(feats, keep)]
        if self.aux_heads is not None:
            out += [head(f.detach() if detach_aux else f) for head, f in zip(self.aux_heads, feats)]
        return out

    def embedding(self, *xs: Tensor) -> Tensor:
        """Concatenated per-stream global-average-pooled features (batch, n_features)."""
        return torch.cat(self._stream_features(xs, None), dim=1)

    def forward(self, *xs: Tensor) -> Tensor:
        """Logits (batch, n_outputs) from one (batch, channels, times) input per modality.

        With ``aux_heads`` the output is the log of the heads' probabilities mixed by
        ``output_weights`` (a valid input to softmax and cross-entropy)."""
        return self._output(self._stream_features(xs, None), xs)

    def forward_with_attention(self, *xs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and attention maps ``{"source->target@block": (batch, C_target, L_target)}``
        (empty for plain connections)."""
        attention: dict[str, Tensor] = {}
        logits = self._output(self._stream_features(xs, attention), xs)
        return logits, attention
