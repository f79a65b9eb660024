"""Synthetic recordings in the exact WESAD on-disk layout.

``simulate_wesad(out)`` writes ``out/SX/SX.pkl``, ``out/SX/SX_quest.csv`` and
``out/SX/SX_readme.txt`` for subjects S2, S3, ..., S11, S13, ... (S1 and S12 are skipped,
as in WESAD); ``simulate_subject`` returns one subject's WESAD dict.

Modules, in the order the data flow through them:

* :mod:`~xmodal.data.synthetic.protocol`: the schedule of conditions (labels) per subject,
  the coupled-mode levels and the decoy schedule of uninformative modalities;
* :mod:`~xmodal.data.synthetic.variation`: subject-level and segment-level variation of the
  physiological parameters and class effects;
* :mod:`~xmodal.data.synthetic.responders`: per-subject response profiles (which sensors
  respond to stress and amusement, and how strongly) for a responder population;
* :mod:`~xmodal.data.synthetic.physiology`: the signal generators, with
  :mod:`~xmodal.data.synthetic.latent` (heart beats, breathing, skin conductance),
  :mod:`~xmodal.data.synthetic.chest`, :mod:`~xmodal.data.synthetic.wrist` (one function per
  modality) and :mod:`~xmodal.data.synthetic.waveforms` (filters, noise, wave shapes);
* :mod:`~xmodal.data.synthetic.simulator`: one subject put together, the public functions;
* :mod:`~xmodal.data.synthetic.wesad_writer`: the files (pickle format, quest file, readme).
"""

from xmodal.data.synthetic.protocol import MODALITIES, SimulationError
from xmodal.data.synthetic.simulator import simulate_subject, simulate_wesad

__all__ = ["MODALITIES", "SimulationError", "simulate_subject", "simulate_wesad"]
