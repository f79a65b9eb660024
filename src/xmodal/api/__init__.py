"""xmodal from Python: load windows, fit a scikit-learn classifier, run the command line's
experiments (see the "From Python" page of the documentation)."""

from xmodal.api.classifier import XModalClassifier
from xmodal.api.dataset import WindowDataset, load_dataset
from xmodal.api.runs import as_config, benchmark, person_experts, run_experiment

__all__ = [
    "WindowDataset",
    "XModalClassifier",
    "as_config",
    "benchmark",
    "load_dataset",
    "person_experts",
    "run_experiment",
]
