"""Every table in the README and the documentation, regenerated from a committed study file.

    python -m benchmarks.reproduce --list                  tables, their study files and results
    python -m benchmarks.reproduce TABLE [--data DIR]      run its study, collect, rewrite the docs
    python -m benchmarks.reproduce all                     every table with a study file
    python -m benchmarks.reproduce --check                 the docs equal the committed results
    python -m benchmarks.reproduce --collect TABLE DIR...  ``xmodal benchmark`` folders -> results
    python -m benchmarks.reproduce --render TABLE          print a table from the committed results
    python -m benchmarks.reproduce --write TABLE           rewrite its block in the docs

(from the repository root). A study file ``benchmarks/studies/<study>.toml`` is an ordinary
``xmodal benchmark --study`` file plus a ``[reproduce]`` table that ``xmodal`` ignores::

    [reproduce]
    data = "wesad-wrist-6"          # how to build the dataset (DATA_RECIPES), or "external"
                                    # (kind = "bench": python -m benchmarks.run, args its flags;
                                    # kind = "script": python -m MODULE --out F ARGS, with
                                    # --work W if work = true; module = "benchmarks...", its
                                    # JSON output the results)
    source = "..."                  # where the data comes from (printed under the tables)
    args = ["--modalities", "wrist.BVP", "wrist.EDA", "--task", "binary", "--seeds", "3"]
                                    # or a list of such lists: one call each, collected in order

    [[reproduce.table]]
    name = "real-data"              # python -m benchmarks.reproduce real-data
    renderer = "comparison"         # benchmarks.tables.RENDERERS
    docs = ["README.md"]            # files holding the table between its markers
    rows = [["default", "`attentive`, default recipe"], ...]   # renderer options

Running a table runs ``xmodal benchmark DATA --study FILE --out WORK ARGS`` (resumable: the
same ``--work`` continues; several argument lists make one call each, into ``WORK/bench``,
``WORK/bench-2``, ..., merged as ``--collect`` merges folders), then collects the compact raw
results into ``benchmarks/results/<study>.json``: per run the configuration, task, seed,
status, model, settings changed from the base, per-subject scores, precision, transductive
subjects, timing and any extra field of the run's ``benchmark.json`` entry, plus the machine
and the xmodal version; never checkpoints. Renderers make the Markdown from that file only,
so ``--check`` (run by ``make test``) compares every marked block of the docs with it without
training::

    <!-- reproduce: real-data -->
    ...generated; edit the study file or the renderer, not this...
    <!-- /reproduce: real-data -->
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.tables import RENDERERS, TableError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "benchmarks" / "studies"
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared" / "data"
#: Markdown files searched for table blocks
DOCS = ("README.md", "docs")
BLOCK = re.compile(
    r"<!-- reproduce: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /reproduce: (?P=name) -->",
    re.S,
)
#: keys of a benchmark.json entry that the compact run lists anyway
_ENTRY_KEYS = {"configuration", "task", "seed", "status", "error", "note", "run", "traceback"}
_SCORE_KEYS = ("macro_f1", "accuracy", "balanced_accuracy", "n_windows", "classes_absent")
_WESAD_WRIST = (
    "real WESAD wrist recordings (Empatica E4; the sensors each row names) of the subjects "
    "listed, from "
    "`../shared/data` (`wesad_wrist/build_wesad.py`). Their synchronisation with the protocol "
    "was estimated (exact for S2 only), and 60 s at both ends of every condition are left "
    "unlabelled: the task is easier than with the published WESAD labels."
)
#: how a study's ``data`` is made: arguments of the build scripts in ../shared/data
DATA_RECIPES = {
    "wesad-wrist": ([], _WESAD_WRIST),
    "wesad-wrist-6": (["wesad_wrist_more"], _WESAD_WRIST),
}


class ReproduceError(RuntimeError):
    """A table, study or results file that cannot be used; the message is one line."""


@dataclass
class Table:
    """One published table: its name, renderer and options, and the study behind it."""

    name: str
    study: Path
    renderer: str
    docs: list[str]
    options: dict = field(default_factory=dict)

    @property
    def results_path(self) -> Path:
        return RESULTS / f"{self.study.stem}.json"


def read_study(path: Path) -> dict:
    """The ``[reproduce]`` table of a study file ({} without one)."""
    with open(path, "rb") as f:
        return tomllib.load(f).get("reproduce", {})


def tables() -> dict[str, Table]:
    """Every table of every study file under ``benchmarks/studies/``."""
    out: dict[str, Table] = {}
    for path in sorted(STUDIES.glob("*.toml")):
        for entry in read_study(path).get("table", []):
            entry = dict(entry)
            name, renderer = entry.pop("name", None), entry.pop("renderer", None)
            if not name or not renderer:
                raise ReproduceError(f"{path}: every [[reproduce.table]] needs name and renderer")
            if name in out:
                raise ReproduceError(f"{path}: table {name!r} is also in {out[name].study}")
            if renderer not in RENDERERS:
                raise ReproduceError(
                    f"{path}: table {name!r}: unknown renderer {renderer!r} "
                    f"(valid: {', '.join(RENDERERS)})"
                )
            out[name] = Table(name, path, renderer, list(entry.pop("docs", [])), entry)
    return out


def _doc_files() -> list[Path]:
    files = []
    for item in DOCS:
        p = ROOT / item
        files += sorted(p.rglob("*.md")) if p.is_dir() else [p]
    return files


def render(table: Table, results: dict | None = None) -> str:
    """The table's Markdown block from its committed (or the given) results."""
    if results is None:
        if not table.results_path.is_file():
            raise ReproduceError(
                f"{table.results_path.relative_to(ROOT)}: no results for table {table.name!r}; "
                f"run `python -m benchmarks.reproduce {table.name}` or --collect a benchmark"
            )
        results = json.loads(table.results_path.read_text(encoding="utf-8"))
    try:
        return RENDERERS[table.renderer](results, {"name": table.name, **table.options}).strip()
    except (TableError, KeyError) as exc:
        raise ReproduceError(f"table {table.name!r}: {exc}") from None


def check() -> list[str]:
    """Problems: marked blocks that differ from their renderer, and tables not in their docs.

    An empty block of a table without committed results is pending, not a problem: it shows
    nothing, and is filled by ``python -m benchmarks.reproduce TABLE`` (or ``--write``).
    """
    known = tables()
    problems, seen = [], set()
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT).as_posix()
        opened = set(re.findall(r"<!-- reproduce: ([\w.-]+) -->", text))
        closed = {m.group("name") for m in BLOCK.finditer(text)}
        problems += [f"{rel}: block {n!r} has no end marker" for n in sorted(opened - closed)]
        for m in BLOCK.finditer(text):
            name = m.group("name")
            seen.add((name, rel))
            if name not in known:
                problems.append(f"{rel}: block {name!r} names no table of benchmarks/studies")
                continue
            if not m.group("body").strip() and not known[name].results_path.is_file():
                continue  # pending: an empty block, filled when its results are committed
            try:
                expected = render(known[name])
            except ReproduceError as exc:
                problems.append(f"{rel}: {exc}")
                continue
            if m.group("body").strip() != expected:
                problems.append(
                    f"{rel}: table {name!r} differs from what its renderer makes from "
                    f"{known[name].results_path.relative_to(ROOT)} "
                    f"(python -m benchmarks.reproduce --write {name})"
                )
    for t in known.values():
        problems += [
            f"{doc}: table {t.name!r} ({t.study.name}) is missing (no marked block)"
            for doc in t.docs
            if (t.name, doc) not in seen
        ]
    return problems


def write_docs(table: Table) -> list[Path]:
    """Replace the table's marked blocks in the docs with the rendered table."""
    text_new = render(table)
    written = []
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")

        def repl(m: re.Match, name=table.name) -> str:
            if m.group("name") != name:
                return m.group(0)
            return f"<!-- reproduce: {name} -->\n{text_new}\n<!-- /reproduce: {name} -->"

        updated = BLOCK.sub(repl, text)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            written.append(path)
    return written


# ---- collecting an `xmodal benchmark` folder ---------------------------------------------------


def _changes(base: dict, config: dict) -> dict:
    """The settings of ``config`` that differ from ``base`` (``{section: {key: value}}``)."""
    out: dict = {}
    for section, values in config.items():
        if not isinstance(values, dict):
            continue
        diff = {k: v for k, v in values.items() if base.get(section, {}).get(k) != v}
        if diff:
            out[section] = diff
    return out


def compact_run(entry: dict, results: dict | None, base: dict) -> dict:
    """One run of a benchmark as committed: scores per subject and what made them."""
    run = {k: entry.get(k) for k in ("configuration", "task", "seed", "status")}
    if entry.get("error"):
        run["error"] = entry["error"]
    if entry.get("note"):
        run["note"] = entry["note"]
    extra = {k: v for k, v in entry.items() if k not in _ENTRY_KEYS}
    if extra:
        run["extra"] = extra
    if results is None:
        return run
    config = results.get("config", {})
    run.update(
        model=results["model"],
        modalities=results["modalities"],
        dataset=results["dataset"],
        protocol=results["protocol"],
        classes=results["classes"],
        n_folds=len(results["folds"]),
        config_changes=_changes(base, config),
        precision=results.get("precision"),
        transductive=bool(results.get("transductive")),
        transductive_subjects=results.get("transductive_subjects", []),
        per_subject={
            s: {k: v[k] for k in _SCORE_KEYS if k in v}
            for s, v in (results.get("per_subject") or {}).items()
        },
        timing=results.get("timing"),
        n_parameters=results.get("n_parameters"),
        flops_per_window=results.get("flops_per_window"),
        xmodal_version=results.get("xmodal_version"),
    )
    return run


def collect(study: Path, folders: list[Path], machine: dict | None = None) -> dict:
    """Compact raw results of one study from ``xmodal benchmark`` folders (merged in order;
    a later folder's run of the same configuration, task and seed replaces an earlier one)."""
    from xmodal.files import read_json

    runs: dict[tuple, dict] = {}
    states = []
    for folder in folders:
        path = Path(folder) / "benchmark.json"
        if not path.is_file():
            raise ReproduceError(f"{path}: not found (an `xmodal benchmark --out` folder?)")
        state = read_json(path)
        states.append(state)
        for entry in state.get("entries", []):
            res_path = Path(folder) / entry.get("run", ".") / "results.json"
            res = (
                read_json(res_path)
                if entry.get("status") == "done" and res_path.is_file()
                else None
            )
            if entry.get("status") == "done" and res is None:
                entry = {**entry, "status": "missing results"}
            run = compact_run(entry, res, state.get("base_config", {}))
            runs[(run["configuration"], run["task"], run["seed"])] = run
    spec = read_study(study) if study.is_file() else {}
    all_runs = list(runs.values())
    return {
        "study_name": study.stem,
        "study": study.relative_to(ROOT).as_posix() if study.is_relative_to(ROOT) else str(study),
        "study_sha256": (
            hashlib.sha256(study.read_bytes()).hexdigest() if study.is_file() else None
        ),
        "commands": [s.get("command", []) for s in states],
        "wall_s": [s.get("wall_s") for s in states],
        "tasks": list(dict.fromkeys(t for s in states for t in s.get("tasks", []))),
        "base_config": states[-1].get("base_config", {}) if states else {},
        "source": spec.get("source") or DATA_RECIPES.get(spec.get("data", ""), ("", ""))[1],
        "subjects": list(dict.fromkeys(s for r in all_runs for s in r.get("per_subject", {}))),
        "transductive_subjects": list(
            dict.fromkeys(s for r in all_runs for s in r.get("transductive_subjects", []))
        ),
        "xmodal_versions": sorted(
            {r["xmodal_version"] for r in all_runs if r.get("xmodal_version")}
        ),
        "machine": machine if machine is not None else _machine(),
        "collected": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": all_runs,
    }


def collect_output(study: Path, path: Path, kind: str = "bench") -> dict:
    """Results of a ``kind = "bench"`` study (the ``bench.json`` of ``python -m
    benchmarks.run``, a file or a folder holding it) or of a ``kind = "script"`` study (the
    JSON its module wrote with ``--out``)."""
    path = Path(path)
    if path.is_dir():
        path = path / ("bench.json" if kind == "bench" else "result.json")
    if not path.is_file():
        raise ReproduceError(f"{path}: not found (the --out of the study's {kind})")
    from xmodal.version import __version__

    output = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(output, dict) and output.get("kind") == kind and "machine" in output:
        return output  # already collected (a committed results file)
    if not isinstance(output, dict) or "machine" not in output:
        raise ReproduceError(f"{path}: not the JSON output of the study's {kind}")
    return {
        "study_name": study.stem,
        "study": study.relative_to(ROOT).as_posix() if study.is_relative_to(ROOT) else str(study),
        "kind": kind,
        "xmodal_versions": [__version__],
        "machine": output["machine"],
        "collected": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ("bench" if kind == "bench" else "result"): output,
    }


def _machine() -> dict:
    from benchmarks.machine import machine_info

    info = machine_info()
    info["note"] = "the machine that collected the results (where the study ran unless stated)"
    return info


def write_results(study: Path, results: dict) -> Path:
    path = RESULTS / f"{study.stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path


# ---- running a study ------------------------------------------------------------------------


def build_data(study: Path, work: Path, data: str | None) -> Path:
    """The dataset folder of a study: ``--data``, or built from ../shared/data by its recipe."""
    spec = read_study(study)
    if data:
        return Path(data)
    recipe = spec.get("data", "external")
    if recipe.startswith("simulate"):
        out = work / "data"
        if not out.exists():
            args = spec.get("simulate", [])
            subprocess.run(
                [sys.executable, "-m", "xmodal", "simulate", str(out), *args], check=True
            )
        return out
    if recipe not in DATA_RECIPES:
        raise ReproduceError(
            f"{study.name}: its data is not in ../shared ({spec.get('source', recipe)}); "
            f"pass --data DIR"
        )
    if not SHARED.is_dir():
        raise ReproduceError(f"{SHARED}: not found; pass --data DIR")
    out = work / "data"
    if not out.exists():
        for extra in [[], *([a] for a in DATA_RECIPES[recipe][0])]:
            subprocess.run(
                [sys.executable, str(SHARED / "wesad_wrist" / "build_wesad.py"), str(out), *extra],
                check=True,
                cwd=SHARED,
            )
    return out


def benchmark_calls(spec: dict) -> list[list[str]]:
    """The arguments of each ``xmodal benchmark`` call of a study: its ``args``, a list of
    flags (one call) or a list of such lists (one call each, collected in that order)."""
    args = spec.get("args", [])
    if args and all(isinstance(a, list) for a in args):
        return [[str(a) for a in call] for call in args]
    return [[str(a) for a in args]]


def run_study(study: Path, work: Path, data: str | None, extra: list[str]) -> dict:
    """``xmodal benchmark`` of the study into ``work/bench`` (``work/bench-2``, ... for more
    calls); its compact results."""
    from benchmarks.machine import machine_info

    spec = read_study(study)
    if spec.get("kind") == "bench":
        cmd = [sys.executable, "-m", "benchmarks.run", "--out", str(work / "bench.json")]
        print("+", " ".join(cmd + spec.get("args", []) + extra), file=sys.stderr, flush=True)
        subprocess.run(cmd + spec.get("args", []) + extra, check=True, cwd=ROOT)
        return collect_output(study, work / "bench.json")
    if spec.get("kind") == "script":
        cmd = [sys.executable, "-m", spec["module"], "--out", str(work / "result.json")]
        cmd += (["--work", str(work / "run")] if spec.get("work") else []) + spec.get("args", [])
        cmd += extra
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
        return collect_output(study, work / "result.json", "script")
    machine = machine_info()  # before the run: the load average it started under
    folder = build_data(study, work, data)
    outs = []
    for i, args in enumerate(benchmark_calls(spec)):
        out = work / ("bench" if i == 0 else f"bench-{i + 1}")
        cmd = [sys.executable, "-m", "xmodal", "benchmark", str(folder), "--study", str(study)]
        cmd += ["--out", str(out), *args, *extra]
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        outs.append(out)
    from benchmarks.common import load_avg

    machine["load_avg_end"] = load_avg()
    return collect(study, outs, machine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", help="table name, or 'all'")
    parser.add_argument("--list", action="store_true", help="tables and their study files")
    parser.add_argument("--check", action="store_true", help="docs equal the committed results")
    parser.add_argument(
        "--collect",
        nargs="+",
        metavar="TABLE_OR_STUDY DIR",
        help="a table (or study) name, then xmodal benchmark folders to collect",
    )
    parser.add_argument("--render", action="store_true", help="print TABLE")
    parser.add_argument("--write", action="store_true", help="rewrite TABLE's blocks in the docs")
    parser.add_argument("--data", help="dataset folder (default: built by the study's recipe)")
    parser.add_argument("--work", help="working folder of the benchmark (default: temporary)")
    parser.add_argument(
        "--extra", nargs=argparse.REMAINDER, default=[], help="more xmodal benchmark flags"
    )
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except (ReproduceError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(
            f"error: {' '.join(map(str, exc.cmd[:4]))} ... exited {exc.returncode}", file=sys.stderr
        )
        return 2


def _main(args: argparse.Namespace) -> int:
    known = tables()
    if args.list:
        for t in known.values():
            state = "results" if t.results_path.is_file() else "no results yet"
            print(
                f"{t.name}: {t.study.relative_to(ROOT)} ({t.renderer}; {state}; {', '.join(t.docs)})"
            )
        return 0
    if args.check:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        pending = [t.name for t in known.values() if not t.results_path.is_file()]
        print(
            f"reproduce --check: {len(problems)} problem(s); {len(known) - len(pending)} of "
            f"{len(known)} tables generated from committed results"
            + (f"; pending (no results yet, empty blocks): {', '.join(pending)}" if pending else "")
        )
        return 1 if problems else 0
    if args.collect:
        if len(args.collect) < 2:
            raise ReproduceError("--collect TABLE DIR [DIR ...]")
        name = args.collect[0]
        study = known[name].study if name in known else STUDIES / f"{name.replace('-', '_')}.toml"
        if not study.is_file():
            print(f"note: {study.relative_to(ROOT)} not found; collecting without its [reproduce]")
        folders = [Path(d) for d in args.collect[1:]]
        kind = read_study(study).get("kind") if study.is_file() else None
        if kind in ("bench", "script"):
            results = collect_output(study, folders[-1], kind)
        else:
            results = collect(study, folders)
        path = write_results(study, results)
        print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if not args.table:
        raise ReproduceError("name a table (--list shows them), 'all', or --check")
    names = list(known) if args.table == "all" else [args.table]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ReproduceError(f"unknown table {unknown[0]!r}; tables: {', '.join(known)}")
    if args.render:
        for n in names:
            print(render(known[n]))
        return 0
    if not args.write:
        for study in dict.fromkeys(known[n].study for n in names):
            with tempfile.TemporaryDirectory(prefix="xmodal-reproduce-") as tmp:
                work = Path(args.work) / study.stem if args.work else Path(tmp)
                work.mkdir(parents=True, exist_ok=True)
                path = write_results(study, run_study(study, work, args.data, args.extra))
                print(f"wrote {path.relative_to(ROOT)}")
        names = [t.name for t in known.values() if t.study in {known[n].study for n in names}]
    for n in names:
        for path in write_docs(known[n]):
            print(f"{n}: rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
