"""``xmodal benchmark``: a study (list of configurations) x tasks x seeds, one run folder each.

Every configuration is an ordinary :func:`~xmodal.training.experiment.run_experiment` run under
``DIR/runs/<name>/`` (``<name>--<task>`` with several tasks, ``--seed<k>`` with several seeds),
so folds resume and the window cache (``--cache-dir``) is shared. A configuration that fails is
recorded with its error and the next one runs. ``DIR/benchmark.json`` holds the command, the
base configuration and the status of every run; the tables and the report are written from it
and the saved results afterwards (``xmodal.evaluation.report.write_report``, which is what
``xmodal benchmark`` and ``xmodal report DIR`` call).

Study files (``--study FILE.toml``)::

    [base]                            # optional: applied to every configuration
    model = { widths = [8, 8, 8] }    #   (after --config, before the command-line flags)
    training = { epochs = 3 }

    [[configuration]]
    name = "attentive-b2"
    model = { name = "attentive", connections = [2] }

    [[configuration]]
    name = "single-ecg"
    data = { modalities = ["chest.ECG"] }
    model = { name = "single" }

A ``[reproduce]`` table (how the repository regenerates a published table from the study) is
ignored here. The ``paper`` study (:func:`paper_study`) places the directional connections ``a2b``/``b2a``
at the best single placement among ``attentive-b1..bN``, chosen fold by fold (nested selection,
:func:`choose_placements`): for each fold, the placement whose ``attentive-bK`` run of the same
task and seed scored best on that fold's *inner-validation* macro-F1, which never includes the
fold's test subject. The chosen placement is recorded in each fold's ``fold.json``. Without
inner validation subjects (``--val-subjects 0``) there is nothing to choose on, and those two
configurations fail with that reason.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xmodal.config import FEATURES_WINDOW, RunConfig, read_toml
from xmodal.errors import ConfigError
from xmodal.files import atomic_write_json, read_json
from xmodal.training.execution import ExecutionBackend, LocalBackend
from xmodal.training.experiment import run_experiment, validate_config
from xmodal.training.progress import Progress
from xmodal.training.splits import Fold


@dataclass
class Configuration:
    """One row of a study: a name, the config changes, and the model's default-name flag."""

    name: str
    overrides: dict = field(default_factory=dict)
    #: ``"a2b"``/``"b2a"``: placed at the best single attentive placement (paper study)
    directional: str = ""


@dataclass
class Study:
    name: str
    base: dict = field(default_factory=dict)
    configurations: list[Configuration] | None = None  # None: the paper study


def load_study(spec: str) -> Study:
    """``paper`` or a study TOML file (see the module docstring)."""
    if spec == "paper":  # the networks themselves: no features blended in
        return Study("paper", base={"model": {"features_blend": "none"}})
    path = Path(spec)
    raw = read_toml(path, "study file not found (--study paper or FILE.toml)")
    unknown = set(raw) - {"name", "base", "configuration", "reproduce"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {sorted(unknown)[0]!r}; valid: name, [base], [[configuration]]"
        )
    base = raw.get("base", {})
    RunConfig().updated(base, f"{path} [base]")  # validate keys early
    configs = []
    for i, entry in enumerate(raw.get("configuration", [])):
        entry = dict(entry)
        name = str(entry.pop("name", "")).strip()
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f'{path}: configuration {i + 1} needs a plain name (name = "...")')
        RunConfig().updated(entry, f"{path} configuration {name!r}")
        configs.append(Configuration(name, entry))
    if not configs:
        raise ConfigError(f"{path}: no [[configuration]] tables")
    names = [c.name for c in configs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"{path}: configuration name {dup!r} is used twice")
    return Study(str(raw.get("name", path.stem)), base, configs)


def paper_study(base: RunConfig) -> list[Configuration]:
    """The paper's comparison for the base configuration's modalities and number of blocks."""
    mods = list(base.data.modalities)
    n_blocks = len(base.model.resolved().widths)
    out = [
        Configuration(f"single-{m}", {"data": {"modalities": [m]}, "model": {"name": "single"}})
        for m in mods
    ]
    out += [
        Configuration(n, {"model": {"name": n}})
        for n in ("early-fusion", "late-fusion", "score-fusion")
    ]
    out.append(
        Configuration(
            "features", {"model": {"name": "features"}, "data": {"window": FEATURES_WINDOW}}
        )
    )
    for model in ("cross", "attentive"):
        out += [
            Configuration(
                f"{model}-b{k}", {"model": {"name": model, "connections": [k], "direction": "both"}}
            )
            for k in range(1, n_blocks + 1)
        ]
        out.append(
            Configuration(
                f"{model}-all",
                {
                    "model": {
                        "name": model,
                        "direction": "both",
                        "connections": list(range(1, n_blocks + 1)),
                    }
                },
            )
        )
    out += [
        Configuration(
            f"attentive-{d}", {"model": {"name": "attentive", "direction": d}}, directional=d
        )
        for d in ("a2b", "b2a")
    ]
    return out


def _select(configs: list[Configuration], only) -> list[Configuration]:
    if not only:
        return configs
    chosen, unknown = [], []
    for name in only:
        hits = [c for c in configs if c.name == name]
        if not hits:  # a model name: its default configuration
            hits = [
                c
                for c in configs
                if c.overrides.get("model", {}).get("name") == name
                and (c.name == name or c.name.endswith("-all") or c.name == f"{name}")
            ][:1]
            if not hits and name == "single":
                hits = [c for c in configs if c.name.startswith("single-")]
        if not hits:
            unknown.append(name)
        chosen += [c for c in hits if c not in chosen]
    if unknown:
        raise ConfigError(
            f"--only: no configuration or model {unknown[0]!r} in the study; "
            f"configurations: {', '.join(c.name for c in configs)}"
        )
    return [c for c in configs if c in chosen]


def fold_validation_score(fold_dir: Path) -> float | None:
    """Inner-validation macro-F1 of one fold at its selected epoch (``fold.json`` history), None
    without validation subjects. Reads nothing computed on the fold's test subjects."""
    rec = read_json(Path(fold_dir) / "fold.json")
    hist, best = rec.get("history") or [], rec.get("best_epoch") or 0
    if 1 <= best <= len(hist):
        value = hist[best - 1].get("val_macro_f1")
        return None if value is None else float(value)
    return None


def choose_placements(
    entries: list[dict], out: Path, task: str, seed: int, n_blocks: int, score=fold_validation_score
) -> tuple[dict[str, int], str]:
    """Nested selection of the connection's placement, fold by fold.

    For every fold, the block ``K`` whose finished ``attentive-bK`` run (same task and seed)
    scored best on *that fold's* inner validation subjects (``score(fold_dir)``); the fold's
    test subject is never among them, so no choice sees its test subject. Returns
    ``({fold name: K}, note)``.
    """
    runs: dict[int, Path] = {}
    for e in entries:
        name = e["configuration"]
        if (
            e["task"] == task
            and e["seed"] == seed
            and e["status"] == "done"
            and name.startswith("attentive-b")
            and name[len("attentive-b") :].isdigit()
        ):
            runs[int(name[len("attentive-b") :])] = out / e["run"]
    if not runs:
        raise ConfigError(
            f"the directional configurations need finished attentive-b1..b{n_blocks} "
            f"runs to choose the placement; run them first (or drop --only)"
        )
    folds = sorted({p.parent.name for run in runs.values() for p in run.glob("folds/*/fold.json")})
    chosen: dict[str, int] = {}
    for fold in folds:
        scores = {
            k: score(run / "folds" / fold)
            for k, run in sorted(runs.items())
            if (run / "folds" / fold / "fold.json").exists()
        }
        if not scores or any(v is None for v in scores.values()):
            raise ConfigError(
                "the placement is chosen per fold on its inner validation "
                "subjects; this study has none (--val-subjects 0)"
            )
        chosen[fold] = max(scores, key=lambda k: (scores[k], -k))  # ties: the earlier block
    counts = {k: sum(v == k for v in chosen.values()) for k in sorted(set(chosen.values()))}
    note = (
        "placement chosen per fold on its inner-validation macro-F1 (never its test "
        "subject): " + ", ".join(f"b{k} in {n} fold{'s' * (n > 1)}" for k, n in counts.items())
    )
    return chosen, note


def _placement_of_fold(chosen: dict[str, int], fold: Fold) -> dict:
    """The configuration change of one fold: its chosen connection placement."""
    return {"model": {"connections": [chosen[fold.name]]}}


def run_name(config: str, task: str, seed: int, tasks: list[str], seeds: int) -> str:
    name = config
    if len(tasks) > 1:
        name += f"--{task}"
    if seeds > 1:
        name += f"--seed{seed}"
    return name


def _finished(run_dir: Path, config: RunConfig) -> bool:
    """The run folder holds results of exactly this configuration (nothing to do)."""
    path = run_dir / "results.json"
    if not path.exists():
        return False
    try:
        return read_json(path).get("config") == validate_config(config).to_dict()
    except (ValueError, OSError, ConfigError):
        return False


def run_benchmark(
    base: RunConfig,
    out: Path,
    study: Study | str = "paper",
    only=(),
    tasks=(),
    seeds: int = 1,
    jobs: int = 1,
    progress: Progress | None = None,
    command=None,
    after_run: Callable[[Path], object] | None = None,
    backend: ExecutionBackend | None = None,
) -> dict:
    """Run every (task, configuration, seed) of the study; write benchmark.json.

    ``after_run(run_dir)`` is called after each run that trained (e.g. to write its plots and
    model card); an error there counts as the run's failure. The tables and the report are not
    written here (see :func:`benchmark_summary` for the closing line). Returns the benchmark
    state (``benchmark.json``'s content). Without ``backend``, the runs share one
    :class:`~xmodal.training.execution.LocalBackend` of ``jobs`` workers.
    """
    if backend is None:
        with LocalBackend(jobs) as local:
            return run_benchmark(
                base, out, study, only, tasks, seeds, jobs, progress, command, after_run, local
            )
    progress = progress or Progress()
    if isinstance(study, str):
        study = load_study(study)
        base = base.updated(study.base, "study [base]") if study.base else base
    if seeds < 1:
        raise ConfigError("--seeds must be >= 1")
    from xmodal.data.datasets import find_subjects
    from xmodal.training.trainer import resolve_device

    # one line before any folder, rather than the same failure in every run
    resolve_device(base.training.device)
    if base.data.path:
        find_subjects(base.data.dataset, base.data.path, base.data.subjects)
    tasks = list(dict.fromkeys(tasks)) or [base.data.task]
    configs = _select(
        study.configurations if study.configurations is not None else paper_study(base), only
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_blocks = len(base.model.resolved().widths)
    state = {
        "command": [str(a) for a in (command or [])],
        "study": study.name,
        "tasks": tasks,
        "seeds": seeds,
        "only": list(only),
        "base_config": base.to_dict(),
        "study_base": study.base,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "configurations": [
            {"name": c.name, "overrides": c.overrides, "directional": c.directional}
            for c in configs
        ],
        "entries": [],
    }
    start = time.perf_counter()
    entries = state["entries"]
    if (out / "benchmark.json").exists() and not (out / "benchmark.json.previous").exists():
        (out / "benchmark.json").replace(out / "benchmark.json.previous")
    for task in tasks:
        for conf in configs:
            for seed in range(seeds):
                base_seed = base.training.seed + seed
                entry = {
                    "configuration": conf.name,
                    "task": task,
                    "seed": base_seed,
                    "status": "pending",
                    "error": "",
                    "note": "",
                }
                entries.append(entry)
                try:
                    overrides = {sec: dict(v) for sec, v in conf.overrides.items()}
                    per_fold = None
                    if conf.directional:
                        chosen, entry["note"] = choose_placements(
                            entries, out, task, base_seed, n_blocks
                        )
                        per_fold = functools.partial(_placement_of_fold, chosen)
                    name = run_name(entry["configuration"], task, base_seed, tasks, seeds)
                    entry["run"] = f"runs/{name}"
                    config = base.updated(
                        {"data": {"task": task}, "training": {"seed": base_seed}}, "benchmark"
                    )
                    config = config.updated(overrides, f"configuration {conf.name!r}")
                    run_dir = out / entry["run"]
                    if _finished(run_dir, config):
                        progress.line(f"== {name}: done already, skipped")
                    else:
                        progress.line(f"== {name}")
                        run_experiment(
                            config,
                            run_dir,
                            progress,
                            jobs=jobs,
                            backend=backend,
                            fold_overrides=per_fold,
                        )
                        if after_run is not None:
                            after_run(run_dir)
                    entry["status"] = "done"
                except Exception as exc:  # isolation: one failure never stops the others
                    entry["status"] = "failed"
                    entry["error"] = f"{type(exc).__name__}: {exc}".strip()
                    entry.setdefault(
                        "run", f"runs/{run_name(conf.name, task, base_seed, tasks, seeds)}"
                    )
                    entry["traceback"] = traceback.format_exc(limit=6)
                    progress.line(f"== {entry['configuration']} ({task}) FAILED: {entry['error']}")
                atomic_write_json(out / "benchmark.json", state)
    state["wall_s"] = time.perf_counter() - start
    old_path = out / "benchmark.json.previous"
    if old_path.exists():  # runs of an earlier invocation (e.g. another --only) stay listed
        mine = {e.get("run") for e in entries}
        entries += [
            e
            for e in read_json(old_path).get("entries", [])
            if e.get("run") not in mine
            and e.get("status") == "done"
            and (out / e["run"] / "results.json").exists()
        ]
    atomic_write_json(out / "benchmark.json", state)
    old_path.unlink(missing_ok=True)
    return state


def benchmark_summary(state: dict, out: Path) -> str:
    """The closing line of a benchmark: runs done and failed, time, the report's files."""
    entries = state["entries"]
    failed = [e for e in entries if e["status"] == "failed"]
    return (
        f"benchmark: {len(entries) - len(failed)} runs done, {len(failed)} failed, "
        f"{state['wall_s']:.0f} s; {out}/table.md, table.csv, per_subject.csv, "
        f"report.md, report.html"
    )
