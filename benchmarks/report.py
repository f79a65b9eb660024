"""The benchmark's markdown summary (``bench.md``)."""

from __future__ import annotations

from benchmarks.common import PRESET_ORDER
from benchmarks.loso15 import TARGETED, VARIANTS


def _machine(r: dict) -> list[str]:
    m = r["machine"]
    flags = ", ".join(m.get("cpu_flags", [])) or "no avx512_bf16/AMX"
    return [
        f"Machine: {m['cpu']} ({flags}), {m['usable_cpus']} usable CPUs, torch {m['torch']} "
        f"({m['torch_threads']} threads by default); load average at start "
        f"{m['load_avg_start']}, at end {m['load_avg_end']}"
        f"{' (--quick)' if r['quick'] else ''}."
    ]


def _peaks_and_preprocess(r: dict) -> list[str]:
    p, pre = r["peaks"], r["preprocess"]
    lines = ["", "| measurement | value | limit / target | ratio / met |", "|---|---|---|---|"]
    for precision in r["machine"]["precisions"]:
        pk = p[precision]
        lines += [
            f"| {precision} matmul peak | {pk['matmul_gflops']:.1f} GFLOP/s | - | - |",
            f"| {precision} conv1d forward peak | {pk['conv1d_gflops']:.1f} GFLOP/s | - | "
            f"{pk['conv1d_gflops'] / pk['matmul_gflops']:.2f} of {precision} matmul |",
        ]
    if "bf16" not in r["machine"]["precisions"]:
        lines.append("| bf16 | not measured: this CPU has no bfloat16 instructions | - | - |")
    lines += [
        f"| load + preprocess one {pre['subject_minutes']:g}-min subject (ECG+EDA), cold | "
        f"{pre['cold_s']:.2f} s | <= 5 s | {pre['targets_met']['cold_s']} |",
        f"| same, cached | {pre['cached_s']:.3f} s | <= 0.5 s | {pre['targets_met']['cached_s']} |",
        f"| peak RSS (cold / cached) | {pre['cold_peak_rss_mib']:.0f} / "
        f"{pre['cached_peak_rss_mib']:.0f} MiB | <= 1024 MiB | "
        f"{pre['targets_met']['peak_rss']} |",
    ]
    return lines


def _training(r: dict) -> list[str]:
    tr = r["training"]
    lines = [
        "",
        f"Training throughput (batch {tr[PRESET_ORDER[0]]['batch']}; ratio to the matmul "
        "peak of the same precision at the same thread count):",
        "",
        "| preset | precision | run | windows/s | GFLOP/s | ratio to matmul peak |",
        "|---|---|---|---|---|---|",
    ]
    for preset in PRESET_ORDER:
        t = tr[preset]
        for precision in tr["precisions"]:
            tp = t[precision]
            for key, v in tp["runs"].items():
                mark = " (best)" if key == tp["best"] else ""
                target = " (target >= 0.40)" if preset == "paper" and precision == "bf16" else ""
                lines.append(
                    f"| {preset} | {precision} | {key}{mark} | {v['windows_per_s']:.0f} "
                    f"| {v['gflops']:.1f} | {v['ratio_to_matmul_peak']:.2f}"
                    f"{target if mark else ''} |"
                )
    if "bf16" not in tr["precisions"]:
        lines.append("\nfp32 only: this CPU has no bfloat16 instructions.")
    st = r.get("training_stacked")
    if st:
        lines += [
            "",
            f"Stacked ensemble ({st['members']} members, batch {st['batch_per_member']} each; "
            "ratio counting all members' FLOPs):",
            "",
            "| preset | precision | threads | s/step | ratio to matmul peak | speedup |",
            "|---|---|---|---|---|---|",
        ]
        for preset in (p for p in PRESET_ORDER if p in st):
            for precision, runs in st[preset].items():
                for key, v in runs.items():
                    lines.append(
                        f"| {preset} | {precision} | {key} | {v['s_per_step']:.3f} | "
                        f"{v['ratio_to_matmul_peak']:.2f} | "
                        f"{v['speedup_over_one_after_another']:.2f} |"
                    )
    return lines


def _inference_and_loso(r: dict) -> list[str]:
    lines = ["", "| measurement | value | limit / target | met |", "|---|---|---|---|"]
    for preset, v in r["inference"].items():
        lines.append(
            f"| inference {preset} | batch 1 p50 {v['batch1_p50_ms']:.2f} ms eager, "
            f"{v['frozen_batch1_p50_ms']:.2f} ms frozen; batched "
            f"{v['batched_ms_per_window']:.3f} ms/window | - | - |"
        )
    lo = r["loso"]
    me, ex = lo["measured"], lo["extrapolated_15_subjects"]
    lines.append(
        f"| LOSO measured: {me['subjects']} subjects x {me['minutes']:g} min, "
        f"{me['epochs']} epochs, {me['precision']} | {me['wall_s']:.1f} s wall (macro-F1 "
        f"{me['macro_f1']:.2f}) | - | - |"
    )
    lines.append(
        f"| LOSO 15 subjects x 100 min, default config (attentive), {ex['jobs']} fold workers "
        f"(EXTRAPOLATED) | "
        f"{ex['wall_s_earliest_stop'] / 60:.1f}-{ex['wall_s_max_epochs'] / 60:.1f} min "
        f"(earliest stop - all epochs) | <= {ex['target_s'] / 60:.0f} min | "
        f"{ex['target_met_earliest_stop']} / {ex['target_met_max_epochs']} |"
    )
    if "full_15_subjects" in lo:
        fu = lo["full_15_subjects"]
        lines.append(
            f"| LOSO 15 subjects x {fu['minutes']:g} min, default config (attentive), {fu['jobs']} "
            f"fold workers (MEASURED) | "
            f"{fu['wall_s'] / 60:.1f} min (macro-F1 {fu['macro_f1']:.2f}, epochs "
            f"{min(fu['epochs_run'])}-{max(fu['epochs_run'])}) | "
            f"<= {fu['target_s'] / 60:.0f} min | {fu['target_met']} |"
        )
    d15 = lo.get("default_15", {})
    if d15.get("skipped"):
        lines.append(f"| loso.default_15 | not run: {d15['note']} | - | - |")
    for name in VARIANTS:
        if name in d15:
            v = d15[name]
            lines.append(
                f"| loso.default_15 {name} (MEASURED, 15 x {d15['minutes']:g} min) | "
                f"{v['wall_s']:.0f} s wall: preprocessing {v['preprocess_s']:.0f} s, "
                f"rest {v['rest_s']:.0f} s (macro-F1 {v['macro_f1']:.2f}; load "
                f"{v['load_avg_1min_during']['mean']:.1f} mean) | <= 150 s (default) | "
                f"{v['wall_s'] <= 150 if name in TARGETED else '-'} |"
            )
    for preset, v in lo.get("presets", {}).items():
        if preset == me["preset"]:
            continue
        pm, pe = v["measured"], v["extrapolated_15_subjects"]
        lines.append(
            f"| LOSO preset {preset} ({pm['precision']}): measured {pm['wall_s']:.1f} s "
            f"(macro-F1 {pm['macro_f1']:.2f}); 15 subjects EXTRAPOLATED | "
            f"{pe['wall_s_earliest_stop'] / 60:.1f}-{pe['wall_s_max_epochs'] / 60:.1f} min"
            f" | <= {pe['target_s'] / 60:.0f} min | {pe['target_met_earliest_stop']} / "
            f"{pe['target_met_max_epochs']} |"
        )
    ray = r.get("ray_scaling", {})
    if ray.get("skipped"):
        lines.append(f"| Ray scaling | skipped: {ray['note']} | - | - |")
    elif ray:
        lines.append(
            f"| Ray scaling: {ray['folds']} folds of {ray['subjects']} x "
            f"{ray['minutes']:g} min, {ray['epochs']} epoch(s), 1 CPU per task | "
            f"1 CPU {ray['workers_1_s']:.1f} s, 2 CPUs {ray['workers_2_s']:.1f} s | - | "
            f"speedup {ray['speedup']:.2f} |"
        )
    return lines


def _scaling(r: dict) -> list[str]:
    lines = [
        "",
        "Scaling (cold preprocessing, ECG+EDA):",
        "",
        "| subjects | minutes each | seconds | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    for s in r["preprocess"]["scaling"]:
        lines.append(
            f"| {s['subjects']} | {s['minutes']:g} | {s['cold_s']:.2f} | {s['peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "Scaling (training epoch, attentive model, default trainer):",
        "",
        "| windows | epoch s | windows/s | threads | precision |",
        "|---|---|---|---|---|",
    ]
    for s in r["epoch_scaling"]:
        lines.append(
            f"| {s['windows']} | {s['epoch_s']:.2f} | {s['windows_per_s']:.0f} | "
            f"{s['threads']} | {s['precision']} |"
        )
    return lines


def _person_blend(r: dict) -> list[str]:
    blend = r.get("person_blend")
    if not blend:
        return []
    lines = [
        "",
        f"Person blend ({blend['people']} people x {blend['windows_per_person']} windows, "
        "1 thread):",
        "",
        "| shrinkage LDA fit | rows | scikit-learn ms | closed form ms | speedup |",
        "|---|---|---|---|---|",
    ]
    for name in ("experts", "refit"):
        fit = blend[f"lda_{name}_ms"]
        lines.append(
            f"| {name} | {fit['rows']} | {fit['scikit_learn']:.2f} | {fit['closed_form']:.2f} | "
            f"{fit['speedup']:.1f} |"
        )
    pipeline = blend.get("pipeline_experts_ms")  # results measured before it existed lack it
    if pipeline:
        lines += [
            "",
            "| features classifier fit (imputer, scaler, LDA) | rows | scikit-learn ms "
            "| numpy ms | speedup |",
            "|---|---|---|---|---|",
            f"| experts | {pipeline['rows']} | {pipeline['scikit_learn']:.2f} | "
            f"{pipeline['numpy']:.2f} | {pipeline['speedup']:.1f} |",
        ]
    lines += [
        "",
        f"One fold's trend decision (`--features-detrend auto`): {blend['trend_decision_s']:.2f} s",
    ]
    return lines


def markdown(r: dict) -> str:
    """The whole summary: machine, peaks, preprocessing, training per preset and precision,
    inference, LOSO, Ray scaling and the scaling tables."""
    lines = (
        _machine(r)
        + _peaks_and_preprocess(r)
        + _training(r)
        + _person_blend(r)
        + _inference_and_loso(r)
        + _scaling(r)
    )
    return "\n".join(lines) + "\n"
