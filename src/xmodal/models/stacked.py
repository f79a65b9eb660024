"""K networks of one architecture as a single grouped network (members trained together).

The K members of a seed ensemble are small networks of the same shape: trained one after
another, every operation does little work and pays the same per-operation overhead. Stacked,
every layer of the K members becomes one grouped layer and each operation does K times the work:

* a feature map holds the K members' channels side by side, member-major:
  ``(batch, K * C, L)``, member k in channels ``k * C : (k + 1) * C``;
* a convolution ``C_in -> C_out`` becomes one ``groups=K`` convolution with the members'
  weights concatenated on the output axis ``(K * C_out, C_in, k)``; a linear layer becomes one
  batched matrix product over the same layout;
* BatchNorm over ``K * C`` channels is BatchNorm per member (statistics are per channel);
* pooling, ReLU, alignment over time and the sigmoid gate are per channel anyway; the
  concatenations of the cross-modal connections and the head, and a softmax gate, work per
  member.

Each member reads its own batch (slot k of the input holds member k's windows), so the members
stay independent: the gradient of the sum of their losses with respect to member k's slice is
the gradient of member k's loss alone. Dropout draws each member's mask from that member's own
generator, as it would draw from the global generator when the member trains alone.

The stacked state is the members' state dicts concatenated on the first axis under the same
keys (:meth:`StackedCrossModalNet.member_state` splits it again), so a stacked model is built
from K ordinary :class:`~xmodal.models.multimodal.CrossModalNet` s and written back into them;
checkpoints, prediction and export only ever see the ordinary networks.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmodal.models.align import align
from xmodal.models.blocks import SameConv1d
from xmodal.models.multimodal import CrossModalNet


def stackable(members: Sequence[nn.Module]) -> str:
    """Why ``members`` cannot be stacked, or ``""`` when they can: :class:`CrossModalNet` s
    without per-stream heads or an expert gate (fitted after training, one member at a time),
    with identical state keys and shapes."""
    if not members:
        return "no members"
    if not all(type(m) is CrossModalNet for m in members):
        return f"{type(members[0]).__name__} members (only CrossModalNet stacks)"
    if any(m.aux_heads is not None for m in members):
        return "per-stream heads"
    if any(getattr(m, "expert_gate", None) is not None for m in members):
        return "the per-sensor expert gate"
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in members]
    if any(s != shapes[0] for s in shapes[1:]):
        return "members of different shapes"
    return ""


class GroupedConv1d(nn.Module):
    """K convolutions of equal shape as one ``groups=K`` convolution with explicit padding."""

    def __init__(self, conv: nn.Conv1d, groups: int, pad: tuple[int, int]) -> None:
        super().__init__()
        self.groups = int(groups)
        self.stride = int(conv.stride[0])
        self.pad = pad
        out, cin, k = conv.weight.shape
        self.weight = nn.Parameter(torch.zeros(groups * out, cin, k))
        self.bias = nn.Parameter(torch.zeros(groups * out)) if conv.bias is not None else None

    def forward(self, x: Tensor) -> Tensor:
        """(batch, K * C_in, L) -> (batch, K * C_out, L_out)."""
        if self.pad != (0, 0):
            x = F.pad(x, self.pad)
        return F.conv1d(x, self.weight, self.bias, self.stride, groups=self.groups)


class GroupedLinear(nn.Module):
    """K linear layers of equal shape as one batched matrix product; weight ``(K * out, in)``."""

    def __init__(self, linear: nn.Linear, groups: int) -> None:
        super().__init__()
        self.groups = int(groups)
        self.weight = nn.Parameter(torch.zeros(groups * linear.out_features, linear.in_features))
        self.bias = (
            nn.Parameter(torch.zeros(groups * linear.out_features))
            if linear.bias is not None
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """(batch, K * in) -> (batch, K * out)."""
        k = self.groups
        batch = x.shape[0]
        xk = x.reshape(batch, k, -1).transpose(0, 1)  # (K, batch, in)
        w = self.weight.reshape(k, -1, self.weight.shape[1]).transpose(1, 2)  # (K, in, out)
        if self.bias is None:
            y = torch.bmm(xk, w)
        else:
            y = torch.baddbmm(self.bias.reshape(k, 1, -1), xk, w)
        return y.transpose(0, 1).reshape(batch, -1)


class GroupedDropout(nn.Module):
    """Dropout with member k's mask drawn from ``generators[k]`` (the global generator's
    algorithm on CPU: ``bernoulli_(1 - p)`` on a tensor like the input, divided by ``1 - p``)."""

    def __init__(self, p: float, generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.p = float(p)
        self.generators = list(generators)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, K * H) -> same, each member's slice dropped with its own mask."""
        if not self.training or self.p == 0:
            return x
        batch, k = x.shape[0], len(self.generators)
        width = x.shape[1] // k
        noise = torch.cat(
            [
                torch.empty(batch, width, dtype=x.dtype, device=x.device).bernoulli_(
                    1 - self.p, generator=g
                )
                for g in self.generators
            ],
            dim=1,
        )
        if self.p == 1:
            return x * noise
        return x * noise.div_(1 - self.p)


def _grouped(module: nn.Module, groups: int, generators: Sequence[torch.Generator]) -> nn.Module:
    """The grouped replacement of one leaf layer (weights left to :meth:`load_members`)."""
    if isinstance(module, SameConv1d):
        k = module.kernel_size[0]
        left = (k - 1) // 2
        return GroupedConv1d(module, groups, (left, k - 1 - left))
    if isinstance(module, nn.Conv1d):
        if module.padding != (0,) or module.dilation != (1,) or module.groups != 1:
            raise ValueError(f"cannot stack {module}")
        return GroupedConv1d(module, groups, (0, 0))
    if isinstance(module, nn.BatchNorm1d):
        return nn.BatchNorm1d(
            groups * module.num_features, module.eps, module.momentum, module.affine
        )
    if isinstance(module, nn.Linear):
        return GroupedLinear(module, groups)
    if isinstance(module, nn.Dropout):
        return GroupedDropout(module.p, generators)
    return module


class StackedCrossModalNet(nn.Module):
    """K :class:`CrossModalNet` s of one architecture as one grouped network.

    Parameters
    ----------
    members : sequence of CrossModalNet
        At least one network, all of the same configuration, without per-stream heads (see
        :func:`stackable`); their weights are copied in.
    generators : sequence of torch.Generator
        One per member: the source of that member's dropout masks.

    Notes
    -----
    Inputs are one ``(batch, K * C_m, T_m)`` tensor per modality, member-major (see
    :func:`stack_inputs`); outputs are logits ``(batch, K, n_outputs)``.
    """

    def __init__(
        self, members: Sequence[CrossModalNet], generators: Sequence[torch.Generator]
    ) -> None:
        super().__init__()
        why = stackable(members)
        if why:
            raise ValueError(f"cannot stack these networks: {why}")
        if len(generators) != len(members):
            raise ValueError(f"need one generator per member, got {len(generators)}")
        self.k = len(members)
        self.net = copy.deepcopy(members[0])
        for name, module in list(self.net.named_modules()):
            new = _grouped(module, self.k, generators)
            if new is not module:
                parent, _, leaf = name.rpartition(".")
                setattr(self.net.get_submodule(parent) if parent else self.net, leaf, new)
        self.load_members(members)

    @torch.no_grad()
    def load_members(self, members: Sequence[CrossModalNet]) -> None:
        """Copy the members' state (parameters and BatchNorm statistics) into the stack."""
        states = [m.state_dict() for m in members]
        stacked = {}
        for key, value in states[0].items():
            if value.dim() == 0:  # num_batches_tracked: one counter for all
                stacked[key] = value.clone()
            else:
                stacked[key] = torch.cat([s[key] for s in states], dim=0)
        self.net.load_state_dict(stacked)

    @torch.no_grad()
    def member_state(self, k: int) -> dict[str, Tensor]:
        """Member k's state dict (copies), loadable into one of the original networks."""
        out = {}
        for key, value in self.net.state_dict().items():
            if value.dim() == 0:
                out[key] = value.detach().clone()
            else:
                out[key] = value.detach().chunk(self.k, dim=0)[k].clone()
        return out

    def _delta(self, conn: nn.Module, h_i: Tensor, h_j: Tensor) -> Tensor:
        """The connection update of every member (see ``CrossModalConnection.delta``)."""
        batch, _, length = h_i.shape
        k = self.k
        aligned = conn.align(h_j) if conn.align is not None else align(h_j, length)
        both = torch.cat(
            [h_i.reshape(batch, k, -1, length), aligned.reshape(batch, k, -1, length)], dim=2
        )
        z = conn.shared(both.reshape(batch, -1, length))
        if conn.attend is None:
            return z
        scores = conn.attend(z)
        if conn.gate == "softmax":  # over each member's channels
            a = torch.softmax(scores.reshape(batch, k, -1, length), dim=2).reshape(scores.shape)
        else:
            a = conn.gate_fn(scores)
        return a * z

    def forward(self, *xs: Tensor, keep: Tensor | None = None) -> Tensor:
        """Logits ``(batch, K, n_outputs)``; ``keep`` ``(batch, K, n_streams)`` of 0/1 drops
        streams per member and window (modality dropout, as ``CrossModalNet.head_logits``)."""
        net, k = self.net, self.k
        batch = xs[0].shape[0]
        hs = [enc.stem(x) for enc, x in zip(net.encoders, xs)]
        for b in range(len(net.connections)):
            hs = [enc.blocks[b](h) for enc, h in zip(net.encoders, hs)]
            conns = net.connections[b]
            if len(conns) == 0:
                continue
            new = list(hs)
            for conn, (src, tgt) in zip(conns, net.connection_index[b]):
                update = self._delta(conn, hs[tgt], hs[src])
                if keep is not None:
                    shape = update.shape
                    update = (
                        update.reshape(batch, k, -1, shape[-1]) * keep[:, :, src, None, None]
                    ).reshape(shape)
                new[tgt] = new[tgt] + update
            hs = new
        feats = [h.mean(dim=-1).reshape(batch, k, -1) for h in hs]
        if keep is not None:
            feats = [f * keep[:, :, i, None] for i, f in enumerate(feats)]
        logits = net.head(torch.cat(feats, dim=2).reshape(batch, -1))
        return logits.reshape(batch, k, -1)


def stack_inputs(batches: Sequence[Sequence[Tensor]]) -> list[Tensor]:
    """One input per modality from K members' batches: ``batches[k][m]`` of shape
    ``(batch, C_m, T_m)`` -> ``(batch, K * C_m, T_m)``, member-major."""
    out = []
    for parts in zip(*batches):
        x = torch.stack(list(parts), dim=1)
        out.append(x.reshape(x.shape[0], -1, x.shape[-1]))
    return out
