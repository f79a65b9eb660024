"""Fitting the gate of the per-sensor experts (``--output experts``) on validation windows.

The network is trained as usual (with modality dropout, so that each stream alone is a usable
expert); the gate (:class:`~xmodal.models.experts.ExpertGate`) is then fitted, with every
network weight frozen, on the fold's inner validation subjects: class-weighted negative
log-likelihood of the gated mixture, full batch, Adam. Nothing of the test subjects is read.
"""

from __future__ import annotations

import numpy as np
import torch

from xmodal.signals.windows import WindowSet
from xmodal.training.trainer import class_weights

#: optimisation of the gate: full-batch Adam steps, learning rate, L2 penalty
GATE_STEPS = 200
GATE_LR = 0.05
GATE_L2 = 1e-3


@torch.no_grad()
def _expert_log_probs(model, windows: WindowSet, device, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    xs = [torch.from_numpy(windows.inputs[m]).to(device) for m in windows.modalities]
    parts = []
    for i in range(0, len(windows), batch_size):
        zs = model.expert_logits(*[x[i : i + batch_size] for x in xs])
        parts.append(torch.stack([torch.log_softmax(z.float(), dim=-1) for z in zs]))
    return torch.cat(parts, dim=1)


def fit_expert_gate(
    model, val: WindowSet | None, n_classes: int, seed: int, device="cpu"
) -> dict | None:
    """Fit ``model.expert_gate`` on the validation windows ``val`` (in place).

    Returns
    -------
    dict or None
        ``mean_weights`` (mean gate weight of each expert on ``val``, fused first) and the
        validation ``nll`` before and after; None when the model has no gate or there are no
        validation windows (the output stays the fused model's).
    """
    gate = getattr(model, "expert_gate", None)
    if gate is None or val is None or len(val) == 0:
        return None
    device = torch.device(device)
    logp = _expert_log_probs(model, val, device)
    y = torch.from_numpy(val.labels).to(device)
    weight = class_weights(val.labels, n_classes).to(device)
    nll = torch.nn.NLLLoss(weight=weight)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gate.linear.reset_parameters()
        torch.nn.init.zeros_(gate.linear.weight)
        torch.nn.init.zeros_(gate.linear.bias)
    gate.train()
    before = float(nll(logp[0], y))
    optimizer = torch.optim.Adam(gate.parameters(), lr=GATE_LR, weight_decay=GATE_L2)
    with torch.enable_grad():
        for _ in range(GATE_STEPS):
            optimizer.zero_grad(set_to_none=True)
            loss = nll(gate.mix(logp), y)
            loss.backward()
            optimizer.step()
    gate.eval()
    gate.fitted.fill_(1.0)
    with torch.no_grad():
        after = float(nll(gate.mix(logp), y))
        mean_w = gate.weights(logp).mean(0).cpu().numpy()
    return {
        "mean_weights": [round(float(w), 4) for w in mean_w],
        "nll_fused": round(before, 4),
        "nll_gated": round(after, 4),
        "seed": int(seed),
        "steps": GATE_STEPS,
        "n_windows": int(len(val)),
        "classes_seen": int(np.unique(val.labels).size),
    }
