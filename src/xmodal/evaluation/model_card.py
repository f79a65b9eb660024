"""``MODEL_CARD.md`` of a run folder: what the model is, what it was trained and tested on.

Everything comes from the run folder's ``results.json`` (which holds the run's configuration
and preprocessing settings), never from the installed code's defaults.
"""

from __future__ import annotations

from pathlib import Path

from xmodal.config import HYBRID_BLENDS, PERSON_BLENDS
from xmodal.files import atomic_write_text, read_json
from xmodal.training.adaptation import adaptation_note


def _pm(results: dict, key: str) -> str:
    mean, std = results.get("mean", {}).get(key), results.get("std", {}).get(key)
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def _recipe(model: dict, training: dict, results: dict) -> str:
    """The fusion-recipe settings of a run in words (from its recorded configuration)."""
    parts = []
    if model.get("aux_heads"):
        parts.append(
            f"per-stream heads (loss weight {training.get('aux_weight')}"
            f"{', gradient blending' if training.get('gblend') else ''}; output "
            f"`{model.get('output')}`)"
        )
    for key, text in (
        ("modality_dropout", "modality dropout {}"),
        ("ogm_alpha", "OGM-GE alpha {}"),
        ("augment", "augmentation strength {}"),
        ("pretrain_epochs", "in-fold contrastive pretraining, {} epochs"),
    ):
        if training.get(key):
            parts.append(text.format(training[key]))
    if training.get("warm_start"):
        parts.append(
            f"unimodal warm start (stream learning-rate factor {training.get('warm_lr_factor')})"
        )
    if training.get("swa"):
        parts.append("weight averaging")
    if training.get("init"):
        parts.append(f"streams initialised from `{training['init']}`")
    if (model.get("ensemble") or 1) > 1:
        parts.append(f"ensemble of {model['ensemble']} seeds")
    if model.get("features_blend") in HYBRID_BLENDS:
        network = ", ".join(model.get("network_modalities") or results.get("modalities", []))
        blend = model["features_blend"]
        if blend in PERSON_BLENDS:
            smoothing = float(model.get("experts_smoothing") or 0.0)
            over = (
                f" (of the probabilities averaged over {smoothing:g} s around each window)"
                if smoothing > 0
                else ""
            )
            weighting = (
                f"each one's mutual information between window and class{over}"
                if blend == "experts-mi"
                else f"the network's mutual information share{over}, the sensors splitting the "
                "rest by a gate learned on the fold's training people"
            )
            parts.append(
                f"hybrid: the network reads {network}; its probabilities are mixed with those "
                f"of one `{model.get('features_model')}` classifier per sensor of the "
                f"hand-crafted features of {model.get('features_window', 60):g} s ending with "
                f"each window, weighted per person by {weighting} over the person's unlabelled "
                "windows (per fold: `features_blend.json`, `features_classifier.npz`)"
            )
            if model.get("network_experts") == "streams":
                parts.append(
                    "the network enters the mix as its fused output and each of its streams "
                    "alone (the others withheld), each weighed as an expert"
                )
            disagreement = float(model.get("experts_disagreement") or 0.0)
            if disagreement > 0:
                parts.append(
                    "an expert whose probabilities correlate with the other experts' by r < 0 on "
                    f"average keeps 1 + r/{disagreement:g} of its weight (none at "
                    f"r <= -{disagreement:g})"
                )
            if model.get("person_refit") == "recording":
                parts.append(
                    "person refit: each sensor's classifier is refitted on the person's "
                    "unlabelled recording with the blend's most probable class as label, and the "
                    "refits (weighted by how well each reproduces those labels on windows it was "
                    "not fitted on) make half of the person's probabilities"
                )
            detrend = model.get("features_detrend", "none")
            if detrend != "none":
                when = {
                    "person": "always",
                    "auto": "in the folds whose training people gain from it "
                    "(`fold.json`: `features_blend.detrend`)",
                    "soft": "in a share of the experts' blend that grows with how much the "
                    "fold's training people gain from it (`fold.json`: "
                    "`features_blend.detrend.share`)",
                }[detrend]
                parts.append(
                    "each person's linear trend over the recording is removed from the features "
                    f"before the experts read them, {when}"
                )
        else:
            weight = (
                "equal weights"
                if blend == "equal"
                else "the weight with the lowest log-loss on each fold's inner validation subjects"
            )
            parts.append(
                f"hybrid: the network reads {network}; its probabilities are averaged ({weight}) "
                f"with a `{model.get('features_model')}` classifier of the hand-crafted features "
                f"of {model.get('features_window', 60):g} s of every modality, ending with each "
                "window (per fold: `features_blend.json`, `features_classifier.npz`)"
            )
    if results.get("transductive"):
        names = ", ".join(results.get("transductive_subjects") or []) or "n/a"
        parts.append(
            "**transductive**: pretraining read the unlabelled signal of evaluated subjects "
            f"({names})"
        )
    return "; ".join(parts) if parts else "plain (no fusion remedies)"


def _preprocessing(results: dict, data: dict) -> list[str]:
    """The cleaning and resampling lines, from the settings the run recorded."""
    pre = results.get("preprocessing")
    if not pre:
        return [
            (
                "- Cleaning (zero-phase Butterworth filters) and polyphase resampling to the "
                "rates above: settings n/a (not recorded in this run's results.json)."
            )
        ]
    ecg = pre.get("ecg_band") or (None, None)
    bands = {k: tuple(v) for k, v in (pre.get("bands") or {}).items()}
    cleaning = (
        f"- Cleaning with zero-phase Butterworth filters: ECG band-pass {_hz(ecg[0])}-"
        f"{_hz(ecg[1])} Hz, EDA low-pass {_hz(pre.get('eda_highcut'))} Hz, other kinds "
        f"{bands} (edges in Hz)."
    )
    resampling = (
        f"- Polyphase resampling to the rates above (defaults per kind "
        f"{pre.get('target_rates')}, never upsampled in training; overrides "
        f"{data.get('rates') or 'none'})."
    )
    return [cleaning, resampling]


def _hz(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else "n/a"


def _number(value) -> float:
    return float("nan") if value is None else value


def _normalization(data: dict) -> str:
    """What the run's normalisation mode did, in words."""
    mode = data.get("normalize", "recording")
    if mode == "calibration":
        part = (
            f"the first {data.get('calibration_minutes')} min of the "
            f"'{data['calibration_label']}' segment, whose windows are not used"
            if data.get("calibration_label")
            else f"the first {data.get('calibration_minutes')} min of the recording"
        )
        return f"per-subject z-scoring with the statistics of {part}."
    if mode == "running":
        return (
            "causal: each window cleaned from raw samples with a context margin and "
            "z-scored with the running statistics of the subject's windows so far."
        )
    return "per-subject z-scoring with the statistics of each subject's whole recording."


def model_card(results: dict) -> str:
    """Markdown model card from a run's ``results.json`` content."""
    cfg = results.get("config", {})
    data, model, training = cfg.get("data", {}), cfg.get("model", {}), cfg.get("training", {})
    windows = results.get("windows", {})
    rates = windows.get("rates", {})
    shapes = windows.get("input_shapes", {})
    subjects = sorted({s for f in results.get("folds", []) for s in f.get("test_subjects", [])})
    final = results.get("final")
    lines = [
        f"# Model card: {results.get('model')} ({results.get('task')}, {results.get('dataset')})",
        "",
        "## Model",
        f"- Architecture: `{results.get('model')}` (preset `{model.get('preset')}`, connections "
        f"after blocks {model.get('connections')}, direction `{model.get('direction')}`, gate "
        f"`{model.get('gate')}`), {results.get('n_parameters', 'n/a')} parameters.",
        f"- Classes ({len(results.get('classes', []))}): {', '.join(results.get('classes', []))}.",
        f"- Training recipe: {_recipe(model, training, results)}.",
        (
            "- Classical baseline: hand-crafted window features + scikit-learn "
            f"`{model.get('features_model')}`; fitted estimators are not saved (parameters and "
            "feature importances per fold in `folds/*/features_model.json`); `xmodal predict` does "
            "not apply."
            if results.get("model") == "features"
            else "- Weights: one checkpoint per fold (`folds/*/model.pt`)"
            + (
                f" and a final model on all subjects (`final/model.pt`, {final['epochs']} epochs = "
                f"{final['epoch_rule']})."
                if final
                else "; no final model (`xmodal train --final` "
                "adds one). Prediction then averages the fold models."
            )
        ),
        "",
        "## Data",
        f"- Dataset: {results.get('dataset')} at `{data.get('path', '')}`.",
        f"- Subjects ({len(subjects)}): {', '.join(subjects)}.",
        f"- Windows: {windows.get('n_eval', 'n/a')} evaluation windows of {data.get('window')} s "
        f"(stride {data.get('stride')} s), {windows.get('n_train', 'n/a')} training windows "
        f"(stride {data.get('train_stride')} s); per class: {windows.get('per_class', {})}.",
        "- Modalities, model rates and inputs (channels × samples per window):",
        *[f"  - `{m}`: {rates.get(m)} Hz, {shapes.get(m)}" for m in results.get("modalities", [])],
        "",
        "## Preprocessing",
        f"- NaN/inf runs up to {data.get('max_gap')} s are interpolated; longer ones are rejected.",
        *_preprocessing(results, data),
        f"- Normalisation ({data.get('normalize', 'recording')}): {_normalization(data)}",
        f"- Test-time adaptation ({data.get('adapt', 'none')}): "
        f"{adaptation_note(data.get('adapt', 'none'), data.get('adapt_minutes', 5.0))} "
        "`xmodal predict` applies it by default; streams do not adapt.",
        "- Prediction (`xmodal predict`) uses the same mode by default; `recording` and "
        "`calibration` process the whole recording as in training, streams process each window "
        "from raw samples with a context margin.",
        "",
        "## Protocol and results",
        f"- Protocol: {results.get('protocol')}; {len(results.get('folds', []))} folds; "
        f"{training.get('val_subjects')} inner validation subject(s) per fold select the epoch "
        f"(macro-F1, patience {training.get('patience')}, at most {training.get('epochs')} epochs); "
        f"seed {results.get('seed')}.",
        f"- Macro-F1 (mean ± std over folds): {_pm(results, 'macro_f1')}",
        f"- Accuracy: {_pm(results, 'accuracy')}",
        f"- Balanced accuracy: {_pm(results, 'balanced_accuracy')}",
        f"- Pooled over all test windows: macro-F1 "
        f"{_number(results.get('pooled', {}).get('macro_f1')):.3f}, accuracy "
        f"{_number(results.get('pooled', {}).get('accuracy')):.3f}.",
        "",
        "## Intended use and limits",
        "- Lab-induced stress; not a medical device.",
        "- Research on affective state recognition from wearable physiology: the stress and "
        "amusement of the recorded lab protocol, not everyday emotions. Not for diagnosis, "
        "treatment or decisions about a person.",
        "- Trained on few, mostly young and healthy subjects; subject-independent scores vary "
        "widely between subjects (see `per_subject.png`). Other sensors, placements, rates or "
        "populations need their own validation.",
        "- Predictions depend on the normalisation statistics of the new recording; the first "
        "minutes of a stream with running statistics are less reliable.",
        "",
        f"_xmodal {results.get('xmodal_version', '')}_",
        "",
    ]
    return "\n".join(lines)


def write_model_card(run: Path) -> Path:
    """Write ``run/MODEL_CARD.md`` from ``run/results.json``; return its path."""
    run = Path(run)
    path = run / "MODEL_CARD.md"
    atomic_write_text(path, model_card(read_json(run / "results.json")))
    return path
