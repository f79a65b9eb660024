"""Augmentation of physiological training windows (never applied at evaluation or prediction).

Every transform keeps the modalities of a window synchronous: time shifts and warps use one
factor per window for all modalities, measured in seconds, not samples. Windows are z-scored,
so amplitudes are in units of the subject's standard deviation.

* amplitude scaling: one log-uniform factor per window and modality (sensor gain, contact);
* jitter: white Gaussian noise;
* baseline wander: a slow sinusoid (0.05-0.5 Hz, random phase);
* time shift: the window moves by up to 10 % of its length (edge samples repeated);
* time warp: the window is stretched or squeezed about its centre by up to 5 %.

``strength`` scales every amount linearly; 1.0 gives the amounts above (scale up to ±20 %,
jitter σ 0.05, wander amplitude up to 0.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def augment_windows(
    xs: Sequence[Tensor], rates: Sequence[float], strength: float, generator: torch.Generator
) -> list[Tensor]:
    """Return augmented copies of one batch of windows (one tensor per modality).

    Parameters
    ----------
    xs : sequence of Tensor
        ``(batch, channels, n_times)`` per modality, all covering the same seconds.
    rates : sequence of float
        Sampling rate of each modality in Hz.
    strength : float
        Scale of all transforms; 0 returns the inputs unchanged.
    generator : torch.Generator
        CPU generator: the same seed gives the same augmentation.
    """
    if strength <= 0:
        return list(xs)
    batch = xs[0].shape[0]
    device = xs[0].device

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator).to(device)

    shift = (uniform(batch) * 2 - 1) * 0.10 * strength  # share of the window
    warp = 1.0 + (uniform(batch) * 2 - 1) * 0.05 * strength  # time-scale factor
    out = []
    for x, rate in zip(xs, rates):
        n, c, t = x.shape
        # shift and warp: sample positions in [-1, 1] (grid_sample, edges repeated)
        pos = torch.linspace(-1.0, 1.0, t, device=device)
        grid_x = pos[None, :] * warp[:, None] + 2 * shift[:, None]
        grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1)[:, None]  # (n, 1, t, 2)
        y = F.grid_sample(
            x[:, :, None, :].float(),
            grid,
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        )[:, :, 0]
        scale = torch.exp((uniform(n, c, 1) * 2 - 1) * math.log1p(0.2 * strength))
        seconds = torch.arange(t, device=device) / float(rate)
        freq = 0.05 + uniform(n, 1, 1) * 0.45
        phase = uniform(n, 1, 1) * 2 * math.pi
        wander = 0.1 * strength * uniform(n, c, 1) * torch.sin(2 * math.pi * freq * seconds + phase)
        noise = torch.randn(n, c, t, generator=generator).to(device) * 0.05 * strength
        out.append((y * scale + wander + noise).to(x.dtype))
    return out
