"""Faults around a valid run, in the style of the bad-input corpus: one line on stderr, exit
code 2 (130 for Ctrl-C, 143 for SIGTERM), no traceback, no half-written file, and a run folder
that the same command resumes.

The world breaks around the run: a damaged cache, a damaged run folder, signals, a full disk,
two commands on one folder, a time column with a huge gap, odd path names and a recording
shorter than one window. Signals are sent when a process has reached a state, never after a
time: the test hook (``tests/fault_hooks/sitecustomize.py``) holds the process at a chosen
point (start-up, a fold, the middle of writing a file) and writes a marker file there.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_wesad_pickle
from hook_helpers import hooked_env, wait_for

from xmodal.cli import main
from xmodal.files import LOCK_NAME
from xmodal.signals.cache import cached, entry_path, load_preprocessed
from xmodal.signals.preprocess import PreprocessedRecording

#: one quick network per fold; --jobs 1: every fold runs in the command's own process
FAST = [
    "--model",
    "single",
    "--modalities",
    "chest.ECG",
    "--epochs",
    "1",
    "--ensemble",
    "1",
    "--train-stride",
    "10",
    "--val-subjects",
    "1",
    "--jobs",
    "1",
]
FOLDS = ("fold-00-S2", "fold-01-S3", "fold-02-S4")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Three synthetic subjects of 5 minutes in the WESAD layout (three LOSO folds)."""
    from xmodal.data.synthetic import simulate_wesad

    root = tmp_path_factory.mktemp("faults_data")
    simulate_wesad(root, subjects=3, minutes=5.0, seed=3)
    return root


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> Path:
    """A finished run of :data:`FAST` on ``data``."""
    out = tmp_path_factory.mktemp("faults_run") / "run"
    assert main(_train_argv(data, out, "--quiet")) == 0
    return out


def _train_argv(data: Path, out: Path, *extra: str, cache: Path | None = None) -> list[str]:
    """``xmodal train`` of :data:`FAST` on ``data`` into ``out``, caching in ``cache`` (default:
    beside ``out``; part of the configuration, so a copied run resumes with its own)."""
    cache = cache or out.parent / "cache"
    return ["train", str(data), "--out", str(out), "--cache-dir", str(cache), *FAST, *extra]


def _one_line(err: str, *expected: str) -> str:
    """The single line of ``err``: an ``xmodal:`` line holding every ``expected``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xmodal: ") and "Traceback" not in err, err
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def _no_half_written(folder: Path) -> None:
    """No temporary file of an atomic write is left anywhere under ``folder``."""
    assert not [p for p in folder.rglob("*.tmp")], list(folder.rglob("*.tmp"))


def _resume(capsys, data: Path, out: Path, done_already: int, cache: Path | None = None) -> dict:
    """Run the same command again: it finishes, reusing ``done_already`` folds."""
    code = main(_train_argv(data, out, cache=cache))
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count("done already") == done_already, err
    results = json.loads((out / "results.json").read_text())
    assert [f["test_subjects"] for f in results["folds"]] == [["S2"], ["S3"], ["S4"]]
    return results


def _spawn(
    argv: list[str], tmp: Path, hook: Path | None = None, block: str = "", **popen
) -> subprocess.Popen:
    """``xmodal ARGV`` in a new process (matplotlib's cache under ``tmp``), with the test hook
    holding ``block`` when ``hook`` is given."""
    env = dict(os.environ, MPLCONFIGDIR=str(tmp / "mpl"))
    return subprocess.Popen(
        [sys.executable, "-m", "xmodal", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env if hook is None else hooked_env(hook, block, env),
        **popen,
    )


# ---- the cache ---------------------------------------------------------------------------------


def _recording() -> PreprocessedRecording:
    signals = {"chest.ECG": np.arange(200, dtype=np.float32).reshape(1, -1)}
    labels = np.ones(20, dtype=np.int8)
    return PreprocessedRecording("S2", signals, {"chest.ECG": 100.0}, labels, 10.0, "S2.pkl")


def _garbage_npz(path: Path) -> None:
    """A well-formed .npz whose arrays are not a recording's (a 1-D 'signal')."""
    meta = {"subject": "S2", "rates": {"chest.ECG": 100.0}, "label_rate": 10.0}
    meta.update(source="S2.pkl", modalities=["chest.ECG"])
    with open(path, "wb") as fh:
        np.savez(
            fh,
            **{"signal/chest.ECG": np.arange(5)},
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )


DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(os.urandom(4096)),
    "not-a-zip": lambda p: p.write_bytes(b"\x93NUMPY garbage"),
    "wrong-arrays": _garbage_npz,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_cache_entry_is_rebuilt_not_trusted(tmp_path, damage):
    source = tmp_path / "S2.pkl"
    source.write_bytes(b"a recording")
    params = {"rates": {"chest.ECG": 100.0}}
    computed = []

    def compute():
        computed.append(1)
        return _recording()

    rec, hit = cached(source, params, tmp_path / "cache", compute)
    assert not hit and len(computed) == 1
    path = entry_path(source, params, tmp_path / "cache")
    DAMAGE[damage](path)
    rec, hit = cached(source, params, tmp_path / "cache", compute)
    assert not hit and len(computed) == 2  # recomputed, not read
    np.testing.assert_array_equal(rec.signals["chest.ECG"], _recording().signals["chest.ECG"])
    again = load_preprocessed(path)  # and the entry was written again, whole
    np.testing.assert_array_equal(again.signals["chest.ECG"], rec.signals["chest.ECG"])
    assert cached(source, params, tmp_path / "cache", compute)[1]  # now a hit
    assert len(computed) == 2


def test_a_run_on_a_damaged_cache_gives_the_same_numbers(capsys, data, finished, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(finished.parent / "cache", cache)
    entries = sorted(cache.glob("*.npz"))
    assert len(entries) == 3
    DAMAGE["truncated"](entries[0])
    DAMAGE["garbage"](entries[1])
    assert main(_train_argv(data, tmp_path / "run", "--quiet")) == 0, capsys.readouterr().err
    for entry in entries:
        load_preprocessed(entry)  # rebuilt
    new = json.loads((tmp_path / "run" / "results.json").read_text())
    old = json.loads((finished / "results.json").read_text())
    assert new["per_subject"] == old["per_subject"]


# ---- a damaged run folder ----------------------------------------------------------------------

RUN_DAMAGE = {
    "fold.json truncated": ("fold.json", lambda b: b[: len(b) // 2]),
    "fold.json empty": ("fold.json", lambda b: b""),
    "fold.json not an object": ("fold.json", lambda b: b"[1, 2, 3]\n"),
    "fold.json without predictions": (
        "fold.json",
        lambda b: json.dumps(
            {k: v for k, v in json.loads(b).items() if k != "predictions"}
        ).encode(),
    ),
    "fold.json not UTF-8": ("fold.json", lambda b: b"\xff\xfe" + b),
    "model.pt truncated": ("model.pt", lambda b: b[: len(b) // 2]),
    "model.pt garbage": ("model.pt", lambda b: os.urandom(len(b))),
}


@pytest.mark.parametrize("case", sorted(RUN_DAMAGE))
def test_a_damaged_fold_is_run_again_on_resume(capsys, data, finished, tmp_path, case):
    name, damage = RUN_DAMAGE[case]
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    (out / "results.json").unlink()
    path = out / "folds" / "fold-01-S3" / name
    path.write_bytes(damage(path.read_bytes()))
    # fold-01 runs again
    results = _resume(capsys, data, out, done_already=2, cache=finished.parent / "cache")
    old = json.loads((finished / "results.json").read_text())
    assert results["per_subject"] == old["per_subject"]  # the same seed: the same numbers
    json.loads(path.with_name("fold.json").read_text())
    _no_half_written(out)


def test_a_damaged_config_of_a_run_is_refused_in_one_line(capsys, data, finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    (out / "config.toml").write_bytes(b"[data\x00 garbage")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert main(_train_argv(data, out, cache=finished.parent / "cache")) == 2
    _one_line(capsys.readouterr().err, str(out / "config.toml"), "not valid TOML")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing touched


# ---- signals -----------------------------------------------------------------------------------

SIGNAL_CASES = [
    # (signal, where the process is held, exit code, folds finished before it)
    (signal.SIGINT, "import:xmodal.cli", 130, 0),  # start-up: the command line loads
    (signal.SIGTERM, "import:xmodal.cli", 143, 0),
    (signal.SIGINT, "prepare", 130, 0),  # before any data is read
    (signal.SIGTERM, "prepare", 143, 0),
    (signal.SIGINT, "fold:fold-01-S3", 130, 1),  # training: fold-00 is done, fold-01 runs
    (signal.SIGTERM, "fold:fold-01-S3", 143, 1),
    (signal.SIGINT, "write:results.json", 130, 3),  # final writing: in the middle of a file
    (signal.SIGTERM, "write:predictions.csv", 143, 3),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, point, code, kept", SIGNAL_CASES, ids=[f"{s.name}-{p}" for s, p, *_ in SIGNAL_CASES]
)
def test_a_signal_at_any_stage_gives_one_line_and_the_run_resumes(
    capsys, data, finished, tmp_path, signum, point, code, kept
):
    out, hook = tmp_path / "run", tmp_path / "hook"
    shutil.copytree(finished.parent / "cache", tmp_path / "cache")
    proc = _spawn(_train_argv(data, out, "--quiet"), tmp_path, hook, point)
    wait_for(hook / f"{point.replace(':', '-')}.blocked", proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == code, err
    what = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"
    _one_line(err, what, "run the same command again to resume")
    _no_half_written(tmp_path)
    assert not (out / "results.json").exists()
    assert len(list(out.glob("folds/*/fold.json"))) == kept
    if kept:
        _resume(capsys, data, out, done_already=kept)


# ---- a full disk -------------------------------------------------------------------------------


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes(capsys, data, finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished.parent / "cache", tmp_path / "cache")
    # every file up to 16 KiB fits, a fold's model.pt does not: the first fold cannot be saved
    assert (finished / "folds" / FOLDS[0] / "model.pt").stat().st_size > 16384
    # matplotlib's font cache is built first, without the limit: the limit is for the run's files
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path / "mpl"))
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=True)
    proc = _spawn(_train_argv(data, out, "--quiet"), tmp_path, preexec_fn=_file_size_limit(16384))
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 2, err
    _one_line(err, "model.pt", os.strerror(27))  # EFBIG: "File too large"
    _no_half_written(tmp_path)
    assert not list(out.glob("folds/*/fold.json")) and not (out / "results.json").exists()
    _resume(capsys, data, out, done_already=0)  # with room again, the same command finishes


def test_a_write_error_names_the_file_and_leaves_nothing(tmp_path):
    from xmodal.files import atomic_write_stream

    def fail(fh):
        fh.write(b"half of it")
        raise OSError(28, "No space left on device")  # ENOSPC from a write: no file name

    with pytest.raises(OSError) as raised:
        atomic_write_stream(tmp_path / "results.json", fail)
    assert raised.value.filename == str(tmp_path / "results.json")
    assert raised.value.errno == 28
    assert list(tmp_path.iterdir()) == []


# ---- two commands on one folder ----------------------------------------------------------------


@pytest.mark.slow
def test_two_commands_on_one_out_the_second_is_refused(capsys, data, finished, tmp_path):
    out, hook = tmp_path / "run", tmp_path / "hook"
    shutil.copytree(finished.parent / "cache", tmp_path / "cache")
    first = _spawn(_train_argv(data, out, "--quiet"), tmp_path, hook, "fold:fold-01-S3")
    wait_for(hook / "fold-fold-01-S3.blocked", first)  # it holds the folder, mid-run
    second = _spawn(_train_argv(data, out, "--quiet"), tmp_path)
    _, err = second.communicate(timeout=900)
    assert second.returncode == 2, err
    _one_line(err, str(out), f"pid {first.pid}", "in use by another xmodal command")
    # the same in this process, and through the other commands that write a folder
    for argv in (_train_argv(data, out), ["benchmark", str(data), "--out", str(out)]):
        assert main(argv) == 2
        _one_line(capsys.readouterr().err, f"pid {first.pid}")
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=900)
    assert first.returncode == 143, err
    _resume(capsys, data, out, done_already=1)  # the first run's folder is intact
    assert (out / LOCK_NAME).is_file()  # the lock is free again: the resume took it


def test_a_refused_command_leaves_no_folder_behind(capsys, tmp_path):
    out = tmp_path / "new run"
    assert main(["train", str(tmp_path / "missing"), "--out", str(out)]) == 2
    capsys.readouterr()
    assert not out.exists()


# ---- a CSV time column with a huge gap ---------------------------------------------------------


def _csv_dataset(root: Path, times: np.ndarray) -> Path:
    root.mkdir(parents=True)
    (root / "dataset.toml").write_text(
        'time_column = "t"\n[signals]\necg = ["ecg"]\n'
        '[labels]\ncolumn = "label"\nclasses = ["rest", "task"]\n'
    )
    rows = ["t,ecg,label"] + [
        f"{float(t)!r},{np.sin(i / 5):.4f},{'rest' if i % 200 < 100 else 'task'}"
        for i, t in enumerate(times)
    ]
    (root / "P1.csv").write_text("\n".join(rows) + "\n")
    return root


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize in /proc/self/status")


@pytest.mark.parametrize("gap", [1e12, 1e6, 3600.0])
def test_a_time_column_with_a_huge_gap_is_refused_before_allocating(capsys, tmp_path, gap):
    times = np.arange(1000) / 100.0
    times[500:] += gap  # one jump: a grid at 100 Hz would hold gap * 100 samples
    root = _csv_dataset(tmp_path / "d", times)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    # 256 MiB more address space than now: a grid of 1e8 samples (the 1e6-s gap) cannot fit
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + 2**28, hard))
    try:
        code = main(
            [
                "train",
                str(root),
                "--dataset",
                "csv",
                "--model",
                "single",
                "--out",
                str(tmp_path / "run"),
            ]
        )
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert code == 2
    _one_line(
        capsys.readouterr().err,
        "P1.csv",
        "time column 't'",
        f"jumps by {gap + 0.01:g} s",
        "row 501",
    )
    assert not (tmp_path / "run").exists()


def test_a_time_column_with_small_gaps_is_still_regridded(capsys, tmp_path):
    times = np.arange(1000) / 100.0
    times[500:] += 0.5  # half a second missing: interpolated, as before
    root = _csv_dataset(tmp_path / "d", times)
    assert main(["datasets", str(root)]) == 0, capsys.readouterr().err


# ---- odd path names ----------------------------------------------------------------------------


def test_paths_with_spaces_and_non_ascii_characters_work(capsys, data, tmp_path):
    root = tmp_path / "dossier de données ü 测试"
    shutil.copytree(data, root / "WESAD é")
    out = root / "run ø"
    assert main(_train_argv(root / "WESAD é", out, "--quiet", "--final")) == 0
    assert (out / "results.json").is_file() and (out / "final" / "model.pt").is_file()
    pred = root / "prédictions S2.csv"
    assert main(["predict", str(out), str(root / "WESAD é" / "S2"), "--out", str(pred)]) == 0
    assert pred.read_text().count("\n") > 1
    exported = root / "modèle exporté.pt"
    assert main(["export", str(out), "--format", "torchscript", "--out", str(exported)]) == 0
    assert exported.stat().st_size > 0
    assert main(["report", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" not in err, err


# ---- a recording shorter than one window -------------------------------------------------------


def test_predict_on_a_recording_shorter_than_one_window_says_so(capsys, finished, tmp_path):
    short = write_wesad_pickle(tmp_path / "S9" / "S9.pkl", seconds=4, subject="S9")
    pred = tmp_path / "p.csv"
    assert main(["predict", str(finished), str(short), "--out", str(pred)]) == 2
    _one_line(capsys.readouterr().err, "too short", "window")
    assert not pred.exists()
