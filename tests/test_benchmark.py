"""``xmodal benchmark`` / ``xmodal report``: study sweep, tables, report, resume, isolation."""

from __future__ import annotations

import csv
import json

import pytest

from xmodal.cli import main

TINY = """
[data]
train_stride = 10.0
rates = { "chest.ECG" = 64.0 }
[model]
widths = [4, 4, 4]
kernels = [8, 4, 4]
head_hidden = 8
ensemble = 1
[training]
epochs = 1
min_epochs = 1
val_subjects = 1
"""


def _bench(capsys, data, out, *extra):
    code = main(
        [
            "benchmark",
            str(data),
            "--out",
            str(out),
            "--quiet",
            "--cache-dir",
            str(out.parent / "cache"),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    return json.loads((out / "benchmark.json").read_text())


def _mtimes(root):
    return {
        p: p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".json", ".pt", ".csv", ".toml")
    }


@pytest.fixture(scope="module")
def paper(tiny_wesad, tmp_path_factory):
    """The whole paper study on the tiny set (2 subject folds, 1 epoch, 4-channel streams)."""
    root = tmp_path_factory.mktemp("paper")
    (root / "tiny.toml").write_text(TINY)
    code = main(
        [
            "benchmark",
            str(tiny_wesad),
            "--out",
            str(root / "bench"),
            "--quiet",
            "--config",
            str(root / "tiny.toml"),
            "--cache-dir",
            str(root / "cache"),
            "--protocol",
            "kfold",
            "--folds",
            "2",
        ]
    )
    assert code == 0
    return root


def test_paper_study_writes_table_report_and_plots(paper):
    bench = paper / "bench"
    state = json.loads((bench / "benchmark.json").read_text())
    names = [e["configuration"] for e in state["entries"]]
    for expected in (
        "single-chest.ECG",
        "single-chest.EDA",
        "early-fusion",
        "late-fusion",
        "score-fusion",
        "features",
        "cross-b1",
        "cross-b2",
        "cross-b3",
        "cross-all",
        "attentive-b1",
        "attentive-b2",
        "attentive-b3",
        "attentive-all",
    ):
        assert expected in names
    assert "attentive-a2b" in names and "attentive-b2a" in names
    assert all(e["status"] == "done" for e in state["entries"]), state["entries"]
    a2b = next(e for e in state["entries"] if e["configuration"] == "attentive-a2b")
    assert "inner-validation" in a2b["note"]
    for record in (bench / a2b["run"]).glob("folds/*/fold.json"):  # placement per fold
        connections = json.loads(record.read_text())["overrides"]["model"]["connections"]
        assert len(connections) == 1 and 1 <= connections[0] <= 3
    rows = list(csv.DictReader((bench / "table.csv").open()))
    assert len(rows) == len(names) == 16
    for row in rows:
        for key in ("macro_f1_mean", "accuracy_mean", "balanced_accuracy_mean"):
            assert 0 <= float(row[key]) <= 1
        assert float(row["train_s"]) > 0
        if row["model"] != "features":
            assert int(row["n_parameters"]) > 0 and float(row["flops_per_window"]) > 0
    # metrics are bold only with a resolved paired lead (4 subjects here: rarely); costs always
    assert any("n_parameters" in r["best"].split(";") for r in rows)
    assert {r["vs_best_single"] for r in rows} <= {"single-chest.ECG", "single-chest.EDA"}
    assert {r["vs_features"] for r in rows} == {"features"}
    assert all(r["n_subjects"] == "4" for r in rows)
    table = (bench / "table.md").read_text()
    main_table, per_subject = table.split("#### Per-subject macro-F1, task 3class")
    assert main_table.count("\n| ") == 17 and "**" in main_table
    assert per_subject.count("\n| ") == 1 + 4 + 1  # header, subjects, mean
    for name in (
        "macro_f1_3class",
        "confusion_best_deep_3class",
        "confusion_best_baseline_3class",
        "per_subject_3class",
        "attention_3class",
    ):
        assert (bench / "figures" / f"{name}.png").stat().st_size > 1000
    report = (bench / "report.md").read_text()
    assert "xmodal benchmark" in report and "figures/attention_3class.png" in report
    html = (bench / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "<table>" in html
    for run in (bench / "runs").iterdir():
        assert (run / "results.json").exists() and (run / "config.toml").exists()


def test_rerun_skips_finished_work_and_report_regenerates(paper, tiny_wesad, capsys):
    bench = paper / "bench"
    args = [
        "benchmark",
        str(tiny_wesad),
        "--out",
        str(bench),
        "--quiet",
        "--config",
        str(paper / "tiny.toml"),
        "--cache-dir",
        str(paper / "cache"),
        "--protocol",
        "kfold",
        "--folds",
        "2",
    ]
    # one fold of one configuration lost: only that fold is trained again
    run = bench / "runs" / "late-fusion"
    fold = sorted(run.glob("folds/*/fold.json"))[0]
    fold.unlink()
    (run / "results.json").unlink()
    before = _mtimes(bench / "runs")
    assert main(args) == 0
    after = _mtimes(bench / "runs")
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed and all(run in p.parents for p in changed), changed
    assert fold in changed and fold.exists()
    # everything finished: nothing under runs/ is rewritten
    before = _mtimes(bench / "runs")
    assert main(args) == 0
    assert _mtimes(bench / "runs") == before
    # report from saved results only
    (bench / "report.md").unlink()
    assert main(["report", str(bench)]) == 0
    assert (bench / "report.md").exists()
    assert _mtimes(bench / "runs") == before
    assert main(["report", str(bench / "runs" / "attentive-all")]) == 0
    assert (bench / "runs" / "attentive-all" / "report.html").exists()
    capsys.readouterr()


def test_failing_configuration_is_reported_and_the_others_run(capsys, tiny_wesad, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text("""
[base]
model = { widths = [4, 4, 4], head_hidden = 8 }
training = { epochs = 1, val_subjects = 1 }
data = { train_stride = 10.0, rates = { "chest.ECG" = 64.0 } }

[[configuration]]
name = "broken"
model = { name = "attentive", connections = [9] }

[[configuration]]
name = "bad-modality"
data = { modalities = ["chest.NOPE"] }
model = { name = "single" }

[[configuration]]
name = "lda"
model = { name = "features", features_model = "lda" }
""")
    state = _bench(
        capsys,
        tiny_wesad,
        tmp_path / "b",
        "--study",
        str(study),
        "--task",
        "binary",
        "--protocol",
        "kfold",
        "--folds",
        "2",
    )
    status = {e["configuration"]: e["status"] for e in state["entries"]}
    assert status == {"broken": "failed", "bad-modality": "failed", "lda": "done"}
    rows = {r["configuration"]: r for r in csv.DictReader((tmp_path / "b" / "table.csv").open())}
    assert rows["broken"]["status"] == "failed" and "block 9" in rows["broken"]["error"]
    assert float(rows["lda"]["macro_f1_mean"]) > 0.5
    assert "failed" in (tmp_path / "b" / "table.md").read_text()


def test_kfold_windows_is_labelled_subject_dependent(capsys, tiny_wesad, tmp_path):
    _bench(
        capsys,
        tiny_wesad,
        tmp_path / "b",
        "--only",
        "features",
        "--protocol",
        "kfold-windows",
        "--folds",
        "3",
        "--task",
        "binary",
    )
    rows = list(csv.DictReader((tmp_path / "b" / "table.csv").open()))
    assert [r["configuration"] for r in rows] == ["features"] and rows[0][
        "subject_dependent"
    ] == "1"
    res = json.loads((tmp_path / "b" / "runs" / "features" / "results.json").read_text())
    assert len(res["folds"]) == 3 and res["subject_dependent"] is True
    for name in ("table.md", "report.md", "report.html"):
        assert "SUBJECT-DEPENDENT" in (tmp_path / "b" / name).read_text()


def test_window_folds_never_train_on_test_time():
    import numpy as np

    from xmodal.signals.windows import WindowSet
    from xmodal.training.folds import fold_masks
    from xmodal.training.splits import make_folds

    def ws(stride):
        t = np.arange(0, 600 - 10 + 1e-9, stride)
        n = len(t)
        return WindowSet(
            {"x": np.zeros((2 * n, 1, 4), np.float32)},
            np.repeat(["S2", "S3"], n),
            np.tile(np.arange(n) % 2, 2),
            np.tile(t, 2),
            {"x": 1.0},
            ("a", "b"),
            10.0,
        )

    ev, tr = ws(10.0), ws(5.0)
    folds = make_folds(ev.subjects, ev.labels, "kfold-windows", 5, 1, 0)
    assert len(folds) == 5
    for fold in folds:
        train, val, test = fold_masks(fold, tr, ev)
        assert not set(fold.test_windows) & set(fold.val_windows)
        for i in np.flatnonzero(test | val):
            same = tr.subjects[train] == ev.subjects[i]
            assert np.all(np.abs(tr.t_start[train][same] - ev.t_start[i]) >= 10.0)


@pytest.mark.slow
def test_attentive_and_cross_beat_both_single_modalities_on_coupled_data(capsys, tmp_path):
    """Coupled synthetic set: the classes live only in the relation of ECG and EDA levels."""
    from xmodal.data.synthetic import simulate_wesad

    simulate_wesad(tmp_path / "data", subjects=5, minutes=10.0, seed=0, coupled=True)
    study = tmp_path / "study.toml"
    study.write_text("""
[base]
data = { rates = { "chest.ECG" = 32.0 }, train_stride = 2.5 }
# the architecture alone: one network, no augmentation or modality dropout (both blur the
# relation between the modalities that this set is made of); float32, so that the one seed
# trains the same on every CPU (precision auto means bf16 where the CPU computes it)
model = { ensemble = 1 }
training.epochs = 10
training.val_subjects = 0
training.augment = 0.0
training.modality_dropout = 0.0
training.precision = "fp32"
[[configuration]]
name = "attentive"
model = { name = "attentive" }
[[configuration]]
name = "cross"
model = { name = "cross" }
[[configuration]]
name = "ecg"
data = { modalities = ["chest.ECG"] }
model = { name = "single" }
[[configuration]]
name = "eda"
data = { modalities = ["chest.EDA"] }
model = { name = "single" }
""")
    _bench(capsys, tmp_path / "data", tmp_path / "b", "--study", str(study), "--task", "binary")
    f1 = {
        r["configuration"]: float(r["macro_f1_mean"])
        for r in csv.DictReader((tmp_path / "b" / "table.csv").open())
    }
    print("coupled binary LOSO macro-F1 (mean over folds)", f1)
    # each modality alone carries no class information (chance: 0.5); ECG and EDA together do
    assert max(f1["ecg"], f1["eda"]) < 0.56
    assert f1["attentive"] > max(f1["ecg"], f1["eda"]) + 0.05
    assert f1["cross"] > max(f1["ecg"], f1["eda"])


# ---- paired statistics in the table, from hand-written result files (no training) ------------

FAKE_SUBJECTS = [f"S{i}" for i in range(2, 10)]


def _fake_results(model, modalities, f1, acc, seed=0, task="binary"):
    """A results.json of a LOSO run: one fold and one per-subject entry per subject."""
    per = {
        s: {
            "macro_f1": f,
            "accuracy": a,
            "balanced_accuracy": f,
            "n_windows": 10,
            "classes_absent": [],
        }
        for s, f, a in zip(FAKE_SUBJECTS, f1, acc)
    }
    folds = [
        {
            "index": i,
            "test_subjects": [s],
            "macro_f1": f,
            "accuracy": a,
            "balanced_accuracy": f,
            "confusion_matrix": [[5, 0], [0, 5]],
            "train_s": 1.0,
        }
        for i, (s, f, a) in enumerate(zip(FAKE_SUBJECTS, f1, acc))
    ]
    return {
        "model": model,
        "task": task,
        "protocol": "loso",
        "dataset": "wesad",
        "modalities": modalities,
        "classes": ["baseline", "stress"],
        "seed": seed,
        "config": {},
        "folds": folds,
        "mean": {},
        "std": {},
        "pooled": {"confusion_matrix": [[40, 0], [0, 40]]},
        "per_subject": per,
        "n_parameters": None if model == "features" else 1000 + 10 * len(modalities),
        "flops_per_window": None if model == "features" else 5e5,
        "timing": {"train_s": 2.0},
    }


def _fake_benchmark(root, configurations):
    """benchmark.json and runs/<name>/results.json for {name: [results of each seed]}."""
    entries = []
    for name, seeds in configurations.items():
        for res in seeds:
            run = f"runs/{name}" + (f"--seed{res['seed']}" if len(seeds) > 1 else "")
            (root / run).mkdir(parents=True)
            (root / run / "results.json").write_text(json.dumps(res))
            entries.append(
                {
                    "configuration": name,
                    "task": res["task"],
                    "seed": res["seed"],
                    "status": "done",
                    "error": "",
                    "note": "",
                    "run": run,
                }
            )
    (root / "benchmark.json").write_text(
        json.dumps(
            {
                "command": [],
                "study": "fake",
                "tasks": ["binary"],
                "seeds": 2,
                "base_config": {},
                "entries": entries,
            }
        )
    )
    return root


def test_report_paired_columns_and_resolved_best_marks(tmp_path):
    import numpy as np

    from xmodal.evaluation.report import write_report

    base = np.linspace(0.5, 0.7, len(FAKE_SUBJECTS))
    gains = np.array([0.08, 0.12, 0.10, 0.06, 0.11, 0.09, 0.07, 0.13])
    wiggle = np.array([0.05, -0.05] * 4)
    acc = base + 0.1
    seeds = [
        _fake_results(
            "attentive",
            ["chest.ECG", "chest.EDA"],
            base + gains + d,
            acc + 0.005 + wiggle + d,
            seed=k,
        )
        for k, d in enumerate((0.01, -0.01))
    ]
    bench = _fake_benchmark(
        tmp_path / "b",
        {
            "single-chest.ECG": [_fake_results("single", ["chest.ECG"], base - 0.1, acc - 0.1)],
            "single-chest.EDA": [_fake_results("single", ["chest.EDA"], base - 0.05, acc - 0.2)],
            "features": [_fake_results("features", ["chest.ECG", "chest.EDA"], base, acc)],
            "attentive": seeds,
        },
    )
    write_report(bench)

    rows = {r["configuration"]: r for r in csv.DictReader((bench / "table.csv").open())}
    att = rows["attentive"]
    assert att["n_seeds"] == "2" and att["n_subjects"] == "8"
    # per-subject scores are averaged over the seeds first: the +-0.01 seed offsets cancel
    assert float(att["delta_vs_features"]) == pytest.approx(gains.mean())
    assert float(att["delta_vs_features_p"]) < 0.05 and att["delta_vs_features_resolved"] == "1"
    low, high = float(att["delta_vs_features_ci_low"]), float(att["delta_vs_features_ci_high"])
    assert 0 < low < gains.mean() < high
    assert att["vs_best_single"] == "single-chest.EDA"
    assert float(att["delta_vs_best_single"]) == pytest.approx(gains.mean() + 0.05)
    assert rows["single-chest.EDA"]["delta_vs_best_single"] == ""  # the reference itself
    assert float(rows["single-chest.ECG"]["delta_vs_best_single"]) == pytest.approx(-0.05)
    # the p-values of one Δ column are Holm-adjusted over its rows (the reference left out)
    from xmodal.evaluation.statistics import holm_adjust

    family = ["single-chest.ECG", "single-chest.EDA", "attentive"]
    raw = [float(rows[n]["delta_vs_features_p"]) for n in family]
    adjusted = [float(rows[n]["delta_vs_features_p_holm"]) for n in family]
    assert adjusted == pytest.approx(holm_adjust(raw), abs=1e-5) and adjusted[2] > raw[2]
    # macro-F1: attentive ahead of features on every subject -> bold; accuracy: attentive's
    # lead over features alternates in sign (+0.055 / -0.045) -> not resolved -> no mark
    assert "macro_f1" in att["best"].split(";") and "balanced_accuracy" in att["best"].split(";")
    assert not any("accuracy" in r["best"].split(";") for r in rows.values())
    assert "n_parameters" in rows["single-chest.ECG"]["best"].split(";")

    table = (bench / "table.md").read_text()
    assert "Δ macro-F1 vs best single [95% CI] (p)" in table
    assert "Δ macro-F1 vs features [95% CI] (p)" in table
    assert "References: best single: `single-chest.EDA`" in table
    assert "not resolved, no mark" in table
    line = next(x for x in table.splitlines() if x.startswith("| attentive "))
    cells = [c.strip() for c in line.strip("|").split(" | ")]
    header = next(x for x in table.splitlines() if x.startswith("| configuration "))
    col = {h.strip(): i for i, h in enumerate(header.strip("|").split(" | "))}
    assert cells[col["macro-F1 (mean ± std)"]].startswith("**")
    assert not cells[col["accuracy (mean ± std)"]].startswith("**")
    assert cells[col["Δ macro-F1 vs features [95% CI] (p)"]].startswith(f"+{gains.mean():.3f} [+")
    assert "reference" in next(x for x in table.splitlines() if x.startswith("| features "))
    # per-subject table: subjects x configurations, mean over seeds
    assert "#### Per-subject macro-F1, task binary" in table
    s4 = next(x for x in table.splitlines() if x.startswith("| S4 |"))
    assert f"{base[2] + gains[2]:.3f}" in s4
    per = list(csv.DictReader((bench / "per_subject.csv").open()))
    assert len(per) == 4 * len(FAKE_SUBJECTS)
    s2 = next(r for r in per if r["configuration"] == "attentive" and r["subject"] == "S2")
    assert s2["n_seeds"] == "2" and float(s2["macro_f1"]) == pytest.approx(base[0] + gains[0])
    for name in ("report.md", "report.html"):
        text = (bench / name).read_text()
        assert "vs best single [95% CI]" in text and "Per-subject macro-F1" in text
    assert "<h4>Per-subject macro-F1, task binary</h4>" in (bench / "report.html").read_text()


def test_report_without_a_resolved_lead_marks_no_metric(tmp_path):
    from xmodal.evaluation.report import write_report

    f1 = [0.6, 0.7, 0.5, 0.8]
    bench = _fake_benchmark(
        tmp_path / "b",
        {
            "a": [_fake_results("early-fusion", ["chest.ECG", "chest.EDA"], f1, f1)],
            "b": [
                _fake_results(
                    "late-fusion",
                    ["chest.ECG", "chest.EDA"],
                    [0.65, 0.65, 0.55, 0.76],
                    [0.6, 0.7, 0.5, 0.8],
                )
            ],
        },
    )
    write_report(bench)
    rows = list(csv.DictReader((bench / "table.csv").open()))
    assert all(
        not {"macro_f1", "accuracy", "balanced_accuracy"} & set(r["best"].split(";")) for r in rows
    )
    assert all(r["vs_best_single"] == "" and r["vs_features"] == "" for r in rows)
    table = (bench / "table.md").read_text()
    assert "Δ" not in next(x for x in table.splitlines() if x.startswith("| configuration "))
    assert "accuracy: `a` − `b`" in table and "tie, no mark" in table


def test_report_reads_result_files_only(tmp_path):
    """Tables and report from saved results import neither training nor model code."""
    import subprocess
    import sys

    f1 = [0.6, 0.7, 0.5, 0.8]
    bench = _fake_benchmark(
        tmp_path / "b",
        {
            "single-chest.ECG": [_fake_results("single", ["chest.ECG"], f1, f1)],
            "attentive": [_fake_results("attentive", ["chest.ECG", "chest.EDA"], f1, f1)],
        },
    )
    code = (
        "import sys; from xmodal.evaluation.report import write_report; "
        f"write_report({str(bench)!r}); "
        "bad = sorted(m for m in sys.modules if m.startswith(('xmodal.training', "
        "'xmodal.models', 'torch'))); print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (bench / "per_subject.csv").exists()


def test_a_lead_whose_interval_excludes_zero_but_not_its_test_is_not_marked(tmp_path):
    from xmodal.evaluation.report import write_report

    # four subjects that all improve: the bootstrap interval is above 0, the exact Wilcoxon
    # p-value is 0.125; "resolved" needs both, so nothing is bold
    bench = _fake_benchmark(
        tmp_path / "b",
        {
            "a": [
                _fake_results(
                    "early-fusion",
                    ["chest.ECG", "chest.EDA"],
                    [0.6, 0.7, 0.5, 0.8],
                    [0.6, 0.7, 0.5, 0.8],
                )
            ],
            "b": [
                _fake_results(
                    "late-fusion",
                    ["chest.ECG", "chest.EDA"],
                    [0.62, 0.73, 0.51, 0.84],
                    [0.6, 0.7, 0.5, 0.8],
                )
            ],
        },
    )
    write_report(bench)
    rows = list(csv.DictReader((bench / "table.csv").open()))
    assert not any("macro_f1" in r["best"].split(";") for r in rows)
    table = (bench / "table.md").read_text()
    assert "(p=0.125), not resolved, no mark" in table


def _fake_placement_runs(root, val, test):
    """attentive-bK runs whose folds have inner-validation scores ``val[k][fold]`` and test
    scores ``test[k][fold]`` (fold.json history at the selected epoch)."""
    entries = []
    for k in val:
        run = f"runs/attentive-b{k}"
        for f, (v, t) in enumerate(zip(val[k], test[k])):
            folder = root / run / "folds" / f"fold-0{f}-S{f + 2}"
            folder.mkdir(parents=True)
            (folder / "fold.json").write_text(
                json.dumps(
                    {
                        "test_subjects": [f"S{f + 2}"],
                        "val_subjects": [f"S{(f + 1) % 3 + 2}"],
                        "macro_f1": t,
                        "best_epoch": 2,
                        "history": [{"val_macro_f1": 0.0}, {"val_macro_f1": v}],
                    }
                )
            )
        entries.append(
            {
                "configuration": f"attentive-b{k}",
                "task": "binary",
                "seed": 0,
                "status": "done",
                "run": run,
            }
        )
    return entries


def test_placement_is_chosen_per_fold_on_its_inner_validation_only(tmp_path, monkeypatch):
    from xmodal.training import benchmark

    # validation prefers b2 in fold 0, b1 in fold 1, b3 in fold 2; the TEST scores prefer the
    # opposite everywhere, so any look at test scores would change the choice
    val = {1: [0.5, 0.9, 0.5], 2: [0.8, 0.6, 0.6], 3: [0.4, 0.7, 0.95]}
    test = {1: [0.99, 0.1, 0.99], 2: [0.1, 0.99, 0.99], 3: [0.99, 0.99, 0.1]}
    entries = _fake_placement_runs(tmp_path, val, test)
    reads = []

    def spy(fold_dir):
        reads.append(fold_dir)
        return benchmark.fold_validation_score(fold_dir)

    chosen, note = benchmark.choose_placements(entries, tmp_path, "binary", 0, 3, score=spy)
    assert chosen == {"fold-00-S2": 2, "fold-01-S3": 1, "fold-02-S4": 3}
    assert "inner-validation" in note
    # each fold's choice read only that fold's records, and nothing but the validation score
    assert {p.name for p in reads} == set(chosen)
    assert all(len([p for p in reads if p.name == f]) == 3 for f in chosen)
    real = benchmark.read_json

    def guarded(path):
        record = real(path)
        return {k: v for k, v in record.items() if k in ("history", "best_epoch")}

    monkeypatch.setattr(benchmark, "read_json", guarded)  # test scores unreadable: same choice
    assert benchmark.choose_placements(entries, tmp_path, "binary", 0, 3)[0] == chosen
    # another seed's runs are not used
    with pytest.raises(Exception, match="need finished attentive-b1"):
        benchmark.choose_placements(entries, tmp_path, "binary", 1, 3)


def test_placement_without_inner_validation_is_refused(tmp_path):
    from xmodal.errors import ConfigError
    from xmodal.training.benchmark import choose_placements

    entries = _fake_placement_runs(tmp_path, {1: [0.5], 2: [0.6]}, {1: [0.9], 2: [0.1]})
    for record in tmp_path.glob("runs/*/folds/*/fold.json"):
        data = json.loads(record.read_text())
        data["history"] = [{"val_macro_f1": None}, {"val_macro_f1": None}]
        record.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="inner validation"):
        choose_placements(entries, tmp_path, "binary", 0, 2)
