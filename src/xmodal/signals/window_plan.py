"""Per-window preprocessing from raw samples: the path of streams (and of the ``running`` mode).

Training (``recording`` and ``calibration`` modes) cleans the *continuous* recording with
zero-phase filters, resamples it and z-scores it with statistics of the recording. A stream has neither the future nor the whole recording, so
prediction processes every window on its own, from raw samples, with the training functions:

1. window ``k`` covers ``[k * hop, k * hop + window)`` seconds from the recording (stream) start;
2. its segment of raw samples starts ``context`` seconds earlier (clipped at the start) and ends
   a few samples after the window (so that resampling covers the window's last sample);
3. the segment is gap-repaired (:func:`~xmodal.signals.gaps.signal_fill_gaps`), cleaned
   (:func:`~xmodal.signals.preprocess.signal_clean`: the same zero-phase filters) and resampled
   (:func:`~xmodal.signals.resample.signal_resample`) to the run's rate for that modality, even
   when that means upsampling a low-rate input;
4. the window's samples are cut from it and normalised by a
   :class:`~xmodal.signals.normalize.Normalizer`.

The context lets the filters settle before the window starts, so a window's first seconds match
the continuously filtered signal closely (5 s of context: within ~3e-3 of the signal's std). The
window's end is where the zero-phase filters' backward pass starts, on the edge padding (odd
extension): the difference from whole-recording cleaning is about the signal's std in the last
second and decays over ~4 s for the 0.5-Hz high-pass of ECG and BVP, ~2 s for EDA (figures in
:mod:`xmodal.signals.preprocessor`). Training with ``--normalize running`` processes its windows
this way too. Because each window depends only on its own segment, offline prediction and
streaming give identical inputs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from xmodal.data.modalities import signal_kind
from xmodal.errors import DataError
from xmodal.signals.gaps import signal_fill_gaps
from xmodal.signals.normalize import Normalizer
from xmodal.signals.preprocess import signal_clean
from xmodal.signals.resample import signal_resample

#: seconds of raw signal before each window that the filters use to settle
DEFAULT_CONTEXT = 5.0


@dataclass(frozen=True)
class WindowPlan:
    """Where every window's raw segment lies and how it becomes a model input.

    Parameters
    ----------
    native_rates : dict of str to float
        Rate of each input modality (Hz), in the model's modality order.
    model_rates : dict of str to float
        Rate each modality is resampled to (the run's rates).
    n_times : dict of str to int
        Samples per window at the model rate.
    channels : dict of str to int
        Channels per modality.
    window, hop, context : float
        Seconds.
    max_gap : float
        Longest NaN/inf run (seconds) that is interpolated.
    """

    native_rates: dict
    model_rates: dict
    n_times: dict
    channels: dict
    window: float
    hop: float
    context: float = DEFAULT_CONTEXT
    max_gap: float = 1.0

    @property
    def modalities(self) -> list[str]:
        return list(self.native_rates)

    def segment(self, k: int, modality: str) -> tuple[int, int]:
        """Native sample range ``[a, b)`` of window ``k``'s segment for ``modality``."""
        r = self.native_rates[modality]
        f = self.model_rates[modality]
        t = k * self.hop
        a = max(0, int(math.floor((t - self.context) * r + 1e-9)))
        b = int(math.ceil((t + self.window) * r - 1e-9)) + int(math.ceil(r / f)) + 1
        return a, b

    def n_windows(self, n_samples: dict) -> int:
        """Number of windows whose segments fit in ``{modality: n_samples}``."""
        k_max = None
        for m in self.modalities:
            r = self.native_rates[m]
            b0 = self.segment(0, m)[1]
            if n_samples[m] < b0:
                return 0
            k = int((n_samples[m] - b0) / (self.hop * r)) + 1  # estimate, then correct
            while k > 0 and self.segment(k - 1, m)[1] > n_samples[m]:
                k -= 1
            while self.segment(k, m)[1] <= n_samples[m]:
                k += 1
            k_max = k if k_max is None else min(k_max, k)
        return int(k_max or 0)

    def min_duration(self) -> float:
        """Seconds of input needed for one window (every modality)."""
        return max(self.segment(0, m)[1] / self.native_rates[m] for m in self.modalities)

    def process(self, k: int, segments: dict, normalizer: Normalizer) -> dict:
        """Model inputs ``{modality: (channels, n_times) float32}`` of window ``k``.

        Parameters
        ----------
        k : int
            Window index.
        segments : dict
            ``{modality: raw samples (b - a, channels)}`` of :meth:`segment`.
        normalizer : Normalizer
            Applied in modality order (updates its running state).
        """
        out = {}
        t = k * self.hop
        for m in self.modalities:
            r, f = self.native_rates[m], self.model_rates[m]
            a, _ = self.segment(k, m)
            raw = segments[m]
            where = f"{m}, window at t={t:.1f} s"
            if not np.isfinite(raw).all():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    raw = signal_fill_gaps(raw, r, self.max_gap, where)
            cleaned = signal_clean(raw, r, signal_kind(m))
            resampled = signal_resample(cleaned, r, f)
            first = int(round((t - a / r) * f))
            n = self.n_times[m]
            if first + n > resampled.shape[0]:  # cannot happen with segment()'s margin
                raise DataError(f"{where}: segment too short after resampling")
            window = np.ascontiguousarray(resampled[first : first + n].T, dtype=np.float32)
            out[m] = normalizer(m, window)
        return out
