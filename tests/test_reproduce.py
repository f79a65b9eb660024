"""``python -m benchmarks.reproduce``: the published tables equal their renderers, collect."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_benchmark import TINY  # the tiny network and one-epoch training of those tests

from benchmarks import reproduce
from xmodal.cli import main as xmodal_main
from xmodal.evaluation.statistics import holm_adjust_comparisons, paired_comparison

STUDY = """
name = "tiny"

[[configuration]]
name = "eda"
data = { modalities = ["chest.EDA"] }
model = { name = "single" }

[[configuration]]
name = "both"
model = { name = "late-fusion" }

[[configuration]]
name = "ecg"
data = { modalities = ["chest.ECG"] }
model = { name = "single" }

[reproduce]
data = "external"
source = "simulated in the test."

[[reproduce.table]]
name = "tiny"
renderer = "comparison"
docs = ["README.md"]
tasks = ["binary"]
rows = [["both", "late fusion"], ["eda", "EDA"], ["ecg", "ECG"]]
references = [["eda", "single EDA"]]

[[reproduce.table]]
name = "tiny-subjects"
renderer = "per-subject"
docs = ["docs/page.md"]
tasks = ["binary"]
rows = ["both", "eda", "ecg"]
reference = "eda"
"""


def test_the_committed_docs_equal_what_the_renderers_make(capsys):
    """``make test`` runs this: every marked table in README.md and docs/ is regenerated from
    its committed raw results (no training) and must equal the text in the docs (the command
    line's check, which lists every problem and fails on any)."""
    assert reproduce.main(["--check"]) == 0
    out = capsys.readouterr()
    assert "0 problem(s)" in out.out and not out.err


def test_every_table_names_a_known_renderer_and_its_study_loads():
    from xmodal.training.benchmark import load_study

    tables = reproduce.tables()
    assert {"real-data", "fusion-ablation", "normalisation", "precision-wrist"} <= set(tables)
    for table in tables.values():
        assert table.docs
        if reproduce.read_study(table.study).get("kind") not in ("bench", "script"):
            assert load_study(str(table.study)).configurations  # xmodal ignores [reproduce]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A repository root with the tiny study, a README and a docs page with empty blocks."""
    root = tmp_path / "repo"
    (root / "benchmarks" / "studies").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "benchmarks" / "studies" / "tiny.toml").write_text(STUDY)
    (root / "README.md").write_text(
        "# x\n\nResult:\n\n<!-- reproduce: tiny -->\n<!-- /reproduce: tiny -->\n\nend\n"
    )
    (root / "docs" / "page.md").write_text(
        "<!-- reproduce: tiny-subjects -->\nold\n<!-- /reproduce: tiny-subjects -->\n"
    )
    monkeypatch.setattr(reproduce, "ROOT", root)
    monkeypatch.setattr(reproduce, "STUDIES", root / "benchmarks" / "studies")
    monkeypatch.setattr(reproduce, "RESULTS", root / "benchmarks" / "results")
    return root


def test_collect_render_write_and_check_a_benchmark(sandbox, tiny_wesad, tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    bench = tmp_path / "bench"
    args = ["benchmark", str(tiny_wesad), "--out", str(bench), "--quiet"]
    args += ["--study", str(sandbox / "benchmarks" / "studies" / "tiny.toml")]
    args += ["--config", str(tmp_path / "tiny.toml"), "--cache-dir", str(tmp_path / "c")]
    args += ["--task", "binary", "--seeds", "2", "--jobs", "1"]
    assert xmodal_main(args) == 0
    # an extra per-run field (e.g. written by another tool) travels into the committed results
    state = json.loads((bench / "benchmark.json").read_text())
    state["entries"][0]["wall_s"] = 12.5
    (bench / "benchmark.json").write_text(json.dumps(state))
    capsys.readouterr()

    # without results an empty block is pending; one with text is a problem
    assert reproduce.check() == [
        "docs/page.md: benchmarks/results/tiny.json: no results for table 'tiny-subjects'; run "
        "`python -m benchmarks.reproduce tiny-subjects` or --collect a benchmark"
    ]
    assert reproduce.main(["--collect", "tiny", str(bench)]) == 0
    results = json.loads((sandbox / "benchmarks" / "results" / "tiny.json").read_text())
    assert results["study"] == "benchmarks/studies/tiny.toml" and results["tasks"] == ["binary"]
    assert len(results["runs"]) == 6 and results["machine"]["cpu"] is not None
    assert results["subjects"] == ["S2", "S3", "S4", "S5"] and results["xmodal_versions"]
    first = results["runs"][0]
    assert first["extra"] == {"wall_s": 12.5} and first["seed"] == 0
    assert first["config_changes"]["model"]["name"] == "single"
    assert set(first["per_subject"]) == {"S2", "S3", "S4", "S5"}
    assert first["precision"]["test"] == "fp32" and "timing" in first
    assert not any(p.suffix == ".pt" for p in (sandbox / "benchmarks").rglob("*"))

    assert any("differs from what its renderer makes" in p for p in reproduce.check())
    assert reproduce.main(["--write", "all"]) == 0
    assert reproduce.check() == []
    text = (sandbox / "README.md").read_text()
    assert text.startswith("# x\n\nResult:\n\n<!-- reproduce: tiny -->\n| configuration |")
    assert text.endswith("<!-- /reproduce: tiny -->\n\nend\n")
    assert "smallest p the exact test can give is 0.125" in text  # four subjects
    assert "Data: simulated in the test." in text and "BCa" in text and "Holm" in text

    # the numbers: means over seeds, then subjects; Δ Holm-adjusted over the column's rows
    def scores(conf):
        runs = [r for r in results["runs"] if r["configuration"] == conf]
        assert len(runs) == 2
        return {
            s: np.mean([r["per_subject"][s]["macro_f1"] for r in runs]) for s in results["subjects"]
        }

    both, eda, ecg = scores("both"), scores("eda"), scores("ecg")
    comps = holm_adjust_comparisons([paired_comparison(both, eda), paired_comparison(ecg, eda)])
    line = next(ln for ln in text.splitlines() if ln.startswith("| late fusion |"))
    assert line.startswith(
        f"| late fusion | {np.mean(list(both.values())):.3f} | {comps[0].format()}"
    )
    assert next(ln for ln in text.splitlines() if ln.startswith("| EDA |")).endswith("| – |")
    page = (sandbox / "docs" / "page.md").read_text()
    assert "| configuration | S2 | S3 | S4 | S5 | mean | Δ vs eda |" in page

    # a number changed by hand is found, and a block of an unknown table too
    (sandbox / "README.md").write_text(
        text.replace(f"{np.mean(list(both.values())):.3f}", "0.999", 1)
    )
    problems = reproduce.check()
    assert len(problems) == 1 and "README.md: table 'tiny' differs" in problems[0]
    (sandbox / "docs" / "page.md").write_text(
        page + "<!-- reproduce: nope -->\n<!-- /reproduce: nope -->\n"
    )
    assert any("'nope' names no table" in p for p in reproduce.check())
    assert reproduce.main(["--check"]) == 1


SCRIPT = """
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--out")
parser.add_argument("--work")
parser.add_argument("--gap", type=float)
args = parser.parse_args()
wesad = {"S1": 0.9, "S2": 0.8, "S3": 0.7}
e4 = {s: v + args.gap for s, v in wesad.items()}
result = {"machine": {"cpu": "test CPU", "load_avg_start": [0.1]}, "work": args.work,
          "training": {"binary": {"macro_f1": {"wesad": wesad, "e4": e4}}}}
open(args.out, "w").write(json.dumps(result))
"""


def test_a_script_study_runs_its_module_and_renders_its_output(sandbox, tmp_path, capsys):
    """``kind = "script"``: ``python -m MODULE --out F [--work W] ARGS``, its JSON output
    collected as the results (once: collecting the results again changes nothing)."""
    (sandbox / "layouts_script.py").write_text(SCRIPT)
    (sandbox / "benchmarks" / "studies" / "layouts.toml").write_text(
        '[reproduce]\nkind = "script"\nmodule = "layouts_script"\nwork = true\n'
        'args = ["--gap", "-0.05"]\n\n[[reproduce.table]]\nname = "layouts"\n'
        'renderer = "layouts"\ndocs = ["docs/page.md"]\ntasks = [["binary", "two classes"]]\n'
    )
    page = sandbox / "docs" / "page.md"
    page.write_text(
        page.read_text() + "<!-- reproduce: layouts -->\n<!-- /reproduce: layouts -->\n"
    )
    assert reproduce.main(["layouts", "--work", str(tmp_path / "work")]) == 0
    results = json.loads((sandbox / "benchmarks" / "results" / "layouts.json").read_text())
    assert results["kind"] == "script" and results["machine"]["cpu"] == "test CPU"
    assert results["result"]["work"] == str(tmp_path / "work" / "layouts" / "run")
    text = page.read_text()
    assert "| two classes | 0.800 | 0.750 | -0.050" in text and "-0.050, -0.050, -0.050" in text
    assert (
        reproduce.collect_output(
            sandbox / "benchmarks" / "studies" / "layouts.toml",
            sandbox / "benchmarks" / "results" / "layouts.json",
            "script",
        )
        == results
    )
    capsys.readouterr()


def test_unknown_table_and_missing_folder_are_one_line_errors(sandbox, tmp_path, capsys):
    assert reproduce.main(["no-such-table"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown table 'no-such-table'" in err
    assert reproduce.main(["--collect", "tiny", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "benchmark.json: not found" in err
    assert reproduce.main(["tiny"]) == 2  # external data and no --data
    assert "pass --data DIR" in capsys.readouterr().err


def test_several_argument_lists_run_one_benchmark_each_collected_in_order(
    sandbox, tmp_path, monkeypatch
):
    """``args = [[...], [...]]``: one ``xmodal benchmark`` call per list, into its own folder,
    collected in that order (a later call's run of the same configuration replaces one)."""
    study = sandbox / "benchmarks" / "studies" / "tiny.toml"
    study.write_text(
        STUDY.replace(
            'source = "simulated in the test."',
            'source = "simulated in the test."\n'
            'args = [["--task", "binary", "--seeds", "2"], ["--only", "eda", "--task", "3class"]]',
        )
    )
    calls = []
    monkeypatch.setattr("benchmarks.machine.machine_info", lambda: {"cpu": "test"})
    monkeypatch.setattr(reproduce.subprocess, "run", lambda cmd, check: calls.append(cmd))
    monkeypatch.setattr(reproduce, "collect", lambda s, folders, machine: {"folders": folders})
    work = tmp_path / "work"
    out = reproduce.run_study(study, work, str(tmp_path / "data"), ["--jobs", "1"])
    assert out["folders"] == [work / "bench", work / "bench-2"]
    assert [c[c.index("benchmark") + 1 :] for c in calls] == [
        [str(tmp_path / "data"), "--study", str(study), "--out", str(work / "bench")]
        + ["--task", "binary", "--seeds", "2", "--jobs", "1"],
        [str(tmp_path / "data"), "--study", str(study), "--out", str(work / "bench-2")]
        + ["--only", "eda", "--task", "3class", "--jobs", "1"],
    ]
    assert reproduce.benchmark_calls({"args": ["--seeds", "3"]}) == [["--seeds", "3"]]
    assert reproduce.benchmark_calls({}) == [[]]


def test_a_paired_table_gives_first_minus_second_holm_adjusted_per_task():
    from benchmarks.tables import RENDERERS, TableError

    def run(conf, task, scores):
        per = {s: {"macro_f1": v} for s, v in scores.items()}
        return {"configuration": conf, "task": task, "status": "done", "per_subject": per}

    a = {"S1": 0.9, "S2": 0.8, "S3": 0.7, "S4": 0.6, "S5": 0.9, "S6": 0.8}
    b = {s: v - 0.05 for s, v in a.items()}
    c = {s: v + (0.02 if i % 2 else -0.03) for i, (s, v) in enumerate(a.items())}
    results = {
        "runs": [
            run(n, t, sc) for t in ("binary", "3class") for n, sc in (("a", a), ("b", b), ("c", c))
        ],
        "study_name": "x",
    }
    text = RENDERERS["paired"](
        results,
        {
            "name": "x",
            "tasks": ["binary"],
            "pairs": [["a", "b", "a minus b"], ["c", "a", "c minus a"]],
        },
    )
    comps = holm_adjust_comparisons([paired_comparison(a, b), paired_comparison(c, a)])
    lines = text.splitlines()
    assert lines[0] == "| comparison | binary Δ |"
    assert lines[2] == f"| a minus b | {comps[0].format()} |" and "+0.050" in lines[2]
    assert lines[3] == f"| c minus a | {comps[1].format()} |"
    with pytest.raises(TableError):
        RENDERERS["paired"](results, {"name": "x", "tasks": ["binary"]})
