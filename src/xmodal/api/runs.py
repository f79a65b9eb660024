"""``xmodal train`` and ``xmodal benchmark`` from Python: the same runs, files and results, and
what a person blend's experts said about each test person (:func:`person_experts`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from xmodal.config import RunConfig, load_config
from xmodal.errors import ConfigError


def as_config(config: RunConfig | Mapping | str | Path | None) -> RunConfig:
    """A :class:`~xmodal.config.RunConfig` from itself, a nested mapping laid out like the TOML
    file (``{"model": {"name": "single"}, ...}``), a TOML file, or None (the defaults)."""
    if config is None:
        return RunConfig()
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return RunConfig.from_dict(dict(config), source="config")
    if isinstance(config, (str, Path)):
        return load_config(config)
    raise ConfigError(
        f"config must be a RunConfig, a mapping or a TOML file, got {type(config).__name__}"
    )


def run_experiment(
    config: RunConfig | Mapping | str | Path,
    out: str | Path,
    *,
    final: bool = False,
    jobs: int = 1,
    quiet: bool = True,
    outputs: bool = True,
) -> dict:
    """Train and evaluate as ``xmodal train`` does; return the results (``results.json``).

    Parameters
    ----------
    config : RunConfig, mapping or TOML path
        The run's configuration (``[data] path`` names the data).
    out : str or Path
        Run folder; a finished fold of the same configuration there is not run again.
    final : bool
        Also train one model on every subject (``--final``).
    jobs : int
        Worker processes (``--jobs``); models registered from Python (not through an entry
        point) are known in this process only, so they need ``jobs=1``.
    quiet : bool
        No progress lines.
    outputs : bool
        Also write the plots and the model card, as ``xmodal train`` does.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from xmodal.training.experiment import run_experiment as run
    from xmodal.training.progress import Progress

    results = run(as_config(config), Path(out), Progress(quiet=quiet), final=final, jobs=jobs)
    if outputs:
        from xmodal.evaluation.run_outputs import write_run_outputs

        write_run_outputs(Path(out))
    return results


def benchmark(
    config: RunConfig | Mapping | str | Path,
    out: str | Path,
    *,
    study: str | Path = "paper",
    only: Sequence[str] = (),
    tasks: Sequence[str] = (),
    seeds: int = 1,
    jobs: int = 1,
    quiet: bool = True,
) -> dict:
    """Run a study as ``xmodal benchmark`` does and write its tables and report.

    Parameters
    ----------
    config : RunConfig, mapping or TOML path
        The base configuration (as ``--config``; a study's ``[base]`` is applied on top).
    out : str or Path
        Benchmark folder (one run folder per task, configuration and seed).
    study : str or Path
        ``paper`` or a study TOML file (``--study``).
    only, tasks, seeds, jobs
        As ``--only``, ``--task``, ``--seeds``, ``--jobs``.
    quiet : bool
        No progress lines.

    Returns
    -------
    dict
        The content of ``benchmark.json`` (each run's entry and status).
    """
    from xmodal.evaluation.report import write_report
    from xmodal.evaluation.run_outputs import write_run_outputs
    from xmodal.training.benchmark import run_benchmark
    from xmodal.training.progress import Progress

    state = run_benchmark(
        as_config(config),
        Path(out),
        study=str(study),
        only=tuple(only),
        tasks=list(tasks),
        seeds=seeds,
        jobs=jobs,
        progress=Progress(quiet=quiet),
        command=["xmodal.benchmark", str(out)],
        after_run=write_run_outputs,
    )
    write_report(Path(out))
    return state


def person_experts(run: str | Path) -> dict[str, dict]:
    """What each expert of a person blend (``--features-blend experts-mi|experts-gate``) said
    about every test person's recording in a finished LOSO run, read from each fold's
    ``person_experts.npz`` (no pickle).

    Parameters
    ----------
    run : str or Path
        The run folder of ``xmodal train``.

    Returns
    -------
    dict
        Test subject to ``{"experts": names, "t_start": (n,), "labels": (n,) (-1: unlabelled),
        "shares": (v,), "probabilities": (v, n, experts, k), "weights": (v, experts),
        "blend": (n, k)}``: the recording's windows in time order; per blend variant (two
        with ``--features-detrend soft`` between 0 and 1, mixed by ``shares``) each expert's
        class probabilities and weight; the final probabilities, the person refit included.
        Empty for a run without a person blend.
    """
    import numpy as np

    from xmodal.errors import DataError
    from xmodal.training.features_blend import PERSON_EXPERTS_FILE

    out: dict[str, dict] = {}
    for path in sorted(Path(run).glob(f"folds/*/{PERSON_EXPERTS_FILE}")):
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{path}: not a person-experts file ({exc})") from None
        names = [str(name) for name in arrays.pop("experts", [])]
        for key, value in arrays.items():
            subject, _, field = key.rpartition(".")
            out.setdefault(subject, {"experts": names})[field] = value
    return out
