"""Plain-text and markdown summaries of results."""

from __future__ import annotations

from xmodal.config import HYBRID_BLENDS, PERSON_BLENDS


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def format_results(results: dict) -> str:
    """A short human-readable summary of one run's results.json."""
    mods = "+".join(results["modalities"])
    norm = results.get("config", {}).get("data", {}).get("normalize", "recording")
    lines = [
        f"{results['model']} | {results['task']} {results['classes']} | "
        f"{results['protocol']} ({len(results['folds'])} folds) | {mods} | "
        f"normalize {norm}",
        f"{'':14}{'accuracy':>16}{'macro-F1':>16}{'balanced acc':>16}",
    ]
    m, s, p = results["mean"], results["std"], results["pooled"]
    keys = ("accuracy", "macro_f1", "balanced_accuracy")
    lines.append(f"{'mean ± std':14}" + "".join(f"{_pm(m[k], s[k]):>16}" for k in keys))
    lines.append(f"{'pooled':14}" + "".join(f"{p[k]:>16.3f}" for k in keys))
    per = results.get("per_subject", {})
    if per:
        lines.append(
            "per subject macro-F1: "
            + "  ".join(f"{subj} {v['macro_f1']:.2f}" for subj, v in per.items())
        )
    model = results.get("config", {}).get("model", {})
    if model.get("features_blend") in HYBRID_BLENDS:
        network = "+".join(model.get("network_modalities") or results["modalities"])
        lines.append(
            f"hybrid: the network reads {network}; blended ({model['features_blend']}) with "
            f"features of {model.get('features_window', 60):g} s of {mods}"
        )
        if model["features_blend"] in PERSON_BLENDS:
            smoothing = float(model.get("experts_smoothing") or 0.0)
            lines.append(
                "the blend's per-person weights read the test subject's unlabelled windows"
                + (f" (experts' probabilities averaged over {smoothing:g} s)" if smoothing else "")
            )
            if model.get("network_experts") == "streams":
                lines.append(
                    "the network enters the blend as its fused output and each stream alone"
                )
            if float(model.get("experts_disagreement") or 0.0) > 0:
                lines.append(
                    "experts that correlate negatively with the others lose weight, all of it "
                    f"at r <= -{float(model['experts_disagreement']):g}"
                )
            if model.get("person_refit") == "recording":
                lines.append(
                    "person refit: the sensors' classifiers are refitted on the test subject's "
                    "unlabelled recording (the blend's labels as teacher)"
                )
            if model.get("features_detrend", "none") != "none":
                share = (
                    " in a share of the blend set by each fold's evidence"
                    if model["features_detrend"] == "soft"
                    else ""
                )
                lines.append(
                    f"features detrend ({model['features_detrend']}): each person's trend over "
                    f"the recording removed from the features{share}"
                )
    adapt = results.get("config", {}).get("data", {}).get("adapt", "none")
    if adapt != "none":
        lines.append(f"test-time adaptation: {adapt} (from the test subject's unlabelled windows)")
    if results.get("transductive"):
        names = ", ".join(results.get("transductive_subjects") or []) or "n/a"
        lines.append(
            f"transductive: pretraining read the unlabelled signal of evaluated subjects ({names})"
        )
    return "\n".join(lines)
