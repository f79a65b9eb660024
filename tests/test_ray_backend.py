"""The Ray backend on a local 2-CPU Ray instance: the local backend's numbers, resume across
backends, a killed worker's fold retried, Ctrl-C.

Every Ray run is a separate ``xmodal`` process (it starts and stops its own Ray instance), so the
tests look at it as a user would: exit code, output, run folder. Signals are sent when the run
has reached a state, never after a time: the test hook (``tests/fault_hooks``) holds a chosen
fold's first attempt in its Ray worker and says so in a file, so the run cannot finish before
the test acts, however loaded the machine.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray backend is an optional extra: pip install 'xmodal[ray]'")

from hook_helpers import hooked_env, wait_for  # noqa: E402

from xmodal.training.ray_backend import FOLD_TASK_NAME  # noqa: E402

FAST = ["--epochs", "2", "--min-epochs", "1", "--ensemble", "1", "--seed", "0"]
RAY = ["--backend", "ray", "--cpus-per-task", "1"]


def _xmodal(*args: str, hook: Path | None = None, block: str = "") -> subprocess.Popen:
    """``xmodal ARGS`` in a new process; with ``hook``, the test hook records fold attempts
    there and holds the points of ``block`` (see ``tests/fault_hooks/sitecustomize.py``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "xmodal", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=None if hook is None else hooked_env(hook, block),
    )


def _train(data: Path, out: Path, cache: Path, *extra: str, timeout: float = 900) -> str:
    proc = _xmodal("train", str(data), "--out", str(out), "--cache-dir", str(cache), *FAST, *extra)
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr[-2000:]
    return stdout + stderr


def _probabilities(run: Path) -> list[tuple]:
    with open(run / "predictions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    return [tuple(r[:3]) + tuple(float(v) for v in r[4:]) for r in rows[1:]]


def _assert_same_predictions(a: Path, b: Path, tol: float = 1e-5) -> None:
    pa, pb = _probabilities(a), _probabilities(b)
    assert len(pa) == len(pb) > 0
    for x, y in zip(pa, pb):
        assert x[:3] == y[:3]
        assert max(abs(u - v) for u, v in zip(x[3:], y[3:])) <= tol


def _parents() -> dict[int, int]:
    """Parent PID of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _children(pid: int) -> list[int]:
    return [child for child, parent in _parents().items() if parent == pid]


def _descendants(pid: int) -> set[int]:
    parents, found = _parents(), {pid}
    grew = True
    while grew:
        more = {child for child, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found - {pid}


def _fold_processes(driver: int) -> list[int]:
    """PIDs of the Ray workers of ``driver``'s own Ray instance that run a fold task (their
    process title is ``ray::<task name>``); other Ray instances (tests in parallel) are not
    looked at."""
    pids = []
    for pid in _descendants(driver):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.decode(errors="replace").strip() == f"ray::{FOLD_TASK_NAME}":
            pids.append(pid)
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_ray_run(data: Path, out: Path, cache: Path, hook: Path, block: str) -> subprocess.Popen:
    """``xmodal train --backend ray`` with the hook holding the first attempt of ``block``
    (a fold); returns once that fold's Ray worker is held."""
    proc = _xmodal(
        "train",
        str(data),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        *FAST,
        *RAY,
        hook=hook,
        block=f"fold:{block}",
    )
    wait_for(hook / f"fold-{block}.blocked", proc)
    return proc


@pytest.fixture(scope="module")
def local_run(tiny_wesad, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ray_local")
    _train(tiny_wesad, root / "run", root / "cache", "--jobs", "1")
    return root / "run", root / "cache"


@pytest.mark.slow
def test_ray_gives_the_local_numbers_and_resumes_across_backends(tiny_wesad, local_run, tmp_path):
    local, cache = local_run
    run = tmp_path / "run"
    shutil.copytree(local, run)
    for fold in ("fold-01-S3", "fold-02-S4"):  # two folds left to do: Ray runs them
        (run / "folds" / fold / "fold.json").unlink()
    text = _train(tiny_wesad, run, cache, *RAY)
    assert text.count("done already") == 2
    results = json.loads((run / "results.json").read_text())
    assert results["execution"]["backend"] == "ray"
    _assert_same_predictions(local, run)
    assert (run / "folds" / "fold-01-S3" / "model.pt").is_file()

    (run / "folds" / "fold-00-S2" / "fold.json").unlink()  # and back: local resumes Ray's run
    text = _train(tiny_wesad, run, cache, "--jobs", "1")
    assert text.count("done already") == 3
    assert json.loads((run / "results.json").read_text())["execution"]["backend"] == "local"
    _assert_same_predictions(local, run)


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_run_completes(tiny_wesad, local_run, tmp_path):
    local, cache = local_run
    out, hook = tmp_path / "run", tmp_path / "hook"
    # the first attempt of fold-00 waits forever: the run can only finish if Ray retries it
    proc = _start_ray_run(tiny_wesad, out, cache, hook, "fold-00-S2")
    victim = int((hook / "fold-fold-00-S2.blocked").read_text())
    assert victim in _fold_processes(proc.pid)  # a worker of this run, running the fold
    os.kill(victim, signal.SIGKILL)  # the worker dies in the middle of a fold
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-2000:]
    attempts = [int(p) for p in (hook / "fold-00-S2.attempts").read_text().split()]
    assert len(attempts) == 2 and attempts[0] == victim != attempts[1]  # retried elsewhere
    assert not _alive(victim)
    assert len(list(out.glob("folds/*/fold.json"))) == 4
    _assert_same_predictions(local, out)


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, code, what",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
    ids=["SIGINT", "SIGTERM"],
)
def test_ctrl_c_cancels_the_tasks_and_stops_ray(
    tiny_wesad, local_run, tmp_path, signum, code, what
):
    """Ctrl-C, and SIGTERM (which ray.init would turn into a silent exit), end the run in one
    line."""
    _, cache = local_run
    out, hook = tmp_path / "run", tmp_path / "hook"
    # fold-03 is held in its worker: the run cannot finish; the others may finish meanwhile
    proc = _start_ray_run(tiny_wesad, out, cache, hook, "fold-03-S5")
    held = int((hook / "fold-fold-03-S5.blocked").read_text())
    ray_processes = _children(proc.pid)
    assert ray_processes  # the local Ray instance it started
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == code, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.startswith("xmodal:")]
    assert lines and what in lines[-1]
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 600  # a guard against a hang, not a timing assumption
    while any(_alive(pid) for pid in [held, *ray_processes]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(held)  # the held fold task was cancelled with its worker
    assert not any(_alive(pid) for pid in ray_processes)
    assert not (out / "results.json").exists()
    assert not (out / "folds" / "fold-03-S5" / "fold.json").exists()
    kept = sorted(p.parent.name for p in out.glob("folds/*/fold.json"))
    for fold in kept:  # what finished is complete and resumable
        json.loads((out / "folds" / fold / "fold.json").read_text())
    text = _train(tiny_wesad, out, cache, "--jobs", "1")  # the same run resumes
    assert text.count("done already") == len(kept)
    assert (out / "results.json").is_file()


def test_ray_options_need_the_ray_backend(tiny_wesad, tmp_path, capsys):
    from xmodal.cli import main

    code = main(["train", str(tiny_wesad), "--out", str(tmp_path / "r"), "--address", "x:1"])
    assert code == 2
    assert "--backend ray" in capsys.readouterr().err
    code = main(
        [
            "train",
            str(tiny_wesad),
            "--out",
            str(tmp_path / "r"),
            "--backend",
            "ray",
            "--cpus-per-task",
            "0",
        ]
    )
    assert code == 2
    assert "--cpus-per-task" in capsys.readouterr().err
