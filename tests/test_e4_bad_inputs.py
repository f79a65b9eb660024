"""A corpus of malformed Empatica E4 exports: one line on stderr naming the file, exit 2, nothing
written.

Each case writes a small valid session here, breaks one thing, and predicts on it (folder or
zip) with a fabricated wrist run (untrained weights: no training). An empty ``tags.csv`` is
valid and predicts.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import fabricate_run
from test_e4 import START, write_session, write_signal, zip_session

from xmodal.cli import main
from xmodal.config import RunConfig

MODALITIES = ("wrist.ACC", "wrist.BVP", "wrist.EDA")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A wrist ACC + BVP + EDA run folder with a final model (untrained weights)."""
    config = RunConfig()
    config.data.modalities = MODALITIES
    config.data.task = "binary"
    return fabricate_run(
        tmp_path_factory.mktemp("run") / "run",
        config,
        {"wrist.ACC": [3, 320], "wrist.BVP": [1, 640], "wrist.EDA": [1, 40]},
        {"wrist.ACC": 32.0, "wrist.BVP": 64.0, "wrist.EDA": 4.0},
        ["non-stress", "stress"],
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _edit(path: Path, index: int, line: str | None) -> None:
    """Replace line ``index`` of a file (``None``: delete it)."""
    lines = _lines(path)
    if line is None:
        del lines[index]
    else:
        lines[index] = line
    path.write_text("".join(lines))


def _nested(session: Path, tmp: Path) -> Path:
    return zip_session(session, tmp / "nested.zip", prefix="export/day1/")


def _two_folders(session: Path, tmp: Path) -> Path:
    out = tmp / "two.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for f in sorted(session.iterdir()):
            zf.write(f, "a/" + f.name)
        zf.write(session / "EDA.csv", "b/EDA.csv")
    return out


def _climbing(session: Path, tmp: Path) -> Path:
    out = zip_session(session, tmp / "climb.zip")
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("../../outside/EDA.txt", "x")
    return out


def _bomb(session: Path, tmp: Path) -> Path:
    """BVP.csv expanding ~1000 times: 40 MB of one repeated sample."""
    out = tmp / "bomb.zip"
    body = f"{START:.6f}\n64.000000\n".encode() + b"0.000000\n" * 4_500_000
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(session.iterdir()):
            if f.name != "BVP.csv":
                zf.write(f, f.name)
        zf.writestr("BVP.csv", body)
    return out


def _break(case: str, session: Path, tmp: Path) -> tuple[Path, list[str]]:
    """Break ``session`` as ``case`` says; the input to predict on and the expected texts."""
    if case == "missing header row":
        _edit(session / "BVP.csv", 0, None)
        return session, ["BVP.csv", "row 1", "header row missing?"]
    if case == "non-numeric rate":
        _edit(session / "EDA.csv", 1, "four\n")
        return session, ["EDA.csv", "row 2", "'four' is not a number"]
    if case == "rate 0":
        _edit(session / "EDA.csv", 1, "0.000000\n")
        return session, ["EDA.csv", "row 2", "positive number of Hz, got 0"]
    if case == "negative rate":
        _edit(session / "BVP.csv", 1, "-64.000000\n")
        return session, ["BVP.csv", "row 2", "got -64"]
    if case == "rates disagree between columns":
        _edit(session / "ACC.csv", 1, "32.000000, 32.000000, 16.000000\n")
        return session, ["ACC.csv", "different sample rates"]
    if case == "start times hours apart":
        write_signal(session / "EDA.csv", START + 3 * 3600, 4.0, np.ones(400))
        return session, ["EDA.csv", "starts 3.00 h after", "within 60 s"]
    if case == "truncated row":
        _edit(session / "ACC.csv", 40, "12,-3\n")
        return session, ["ACC.csv", "row 41 has 2 value(s), expected 3"]
    if case == "truncated last row":
        text = (session / "ACC.csv").read_text()
        (session / "ACC.csv").write_text(text[: text.rstrip().rfind(",")])
        return session, ["ACC.csv", "value(s), expected 3"]
    if case == "non-numeric sample":
        _edit(session / "BVP.csv", 9, "NaN?\n")
        return session, ["BVP.csv", "row 10: 'NaN?' is not a number"]
    if case == "empty file":
        (session / "EDA.csv").write_text("")
        return session, ["EDA.csv", "empty file"]
    if case == "header only":
        (session / "EDA.csv").write_text(f"{START:.6f}\n4.000000\n")
        return session, ["EDA.csv", "no samples"]
    if case == "missing signal file":
        (session / "EDA.csv").unlink()
        return session, [str(session), "no EDA.csv for wrist.EDA"]
    if case == "bad tag":
        (session / "tags.csv").write_text(f"{START + 5:.2f}\nyesterday\n")
        return session, ["tags.csv", "row 2", "'yesterday' is not a unix time"]
    if case == "unknown segment label":
        (session / "segments.csv").write_text("label,start_s,end_s\ncalm,0,30\n")
        return session, ["segments.csv", "unknown label 'calm'"]
    if case == "segment beyond the end":
        (session / "segments.csv").write_text("label,start_s,end_s\nstress,0,900\n")
        return session, ["segments.csv", "beyond the end"]
    if case == "zip with nested folders":
        return _nested(session, tmp), ["nested.zip", "nested folders", "export/day1/"]
    if case == "zip with several folders":
        return _two_folders(session, tmp), ["two.zip", "several folders", "a/, b/"]
    if case == "zip member climbing out":
        return _climbing(session, tmp), ["climb.zip", "../../outside/EDA.txt", "climbing"]
    if case == "zip bomb":
        return _bomb(session, tmp), ["bomb.zip:BVP.csv", "zip bomb?"]
    if case == "not a zip":
        bad = tmp / "broken.zip"
        bad.write_bytes(b"PK\x03\x04 truncated")
        return bad, ["broken.zip", "not a readable zip"]
    raise AssertionError(case)


CASES = [
    "missing header row",
    "non-numeric rate",
    "rate 0",
    "negative rate",
    "rates disagree between columns",
    "start times hours apart",
    "truncated row",
    "truncated last row",
    "non-numeric sample",
    "empty file",
    "header only",
    "missing signal file",
    "bad tag",
    "unknown segment label",
    "segment beyond the end",
    "zip with nested folders",
    "zip with several folders",
    "zip member climbing out",
    "zip bomb",
    "not a zip",
]


@pytest.mark.parametrize("case", CASES)
def test_malformed_e4_export(capsys, run, tmp_path, case):
    session = write_session(tmp_path / "data" / "s1", seconds=40, tags=(5.0,))
    source, expected = _break(case, session, tmp_path)
    out, plot = tmp_path / "timeline.csv", tmp_path / "timeline.png"
    code = main(["predict", str(run), str(source), "--out", str(out), "--plot", str(plot)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("xmodal: error: "), err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert not out.exists() and not plot.exists()


def test_member_over_the_size_limit(capsys, run, tmp_path, monkeypatch):
    from xmodal.data import safe_zip

    monkeypatch.setattr(safe_zip, "MAX_MEMBER_BYTES", 1000)
    zipped = zip_session(write_session(tmp_path / "s1", seconds=40), tmp_path / "s1.zip")
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(zipped), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "s1.zip:" in err and "more than the 0 MiB read from one member" in err
    assert not out.exists()


@pytest.mark.parametrize("zipped", [False, True])
def test_empty_tags_file_is_valid(capsys, run, tmp_path, zipped):
    session = write_session(tmp_path / "s1", seconds=40)
    assert (session / "tags.csv").read_text() == ""
    source = zip_session(session, tmp_path / "s1.zip") if zipped else session
    out, plot = tmp_path / "timeline.csv", tmp_path / "timeline.png"
    code = main(["predict", str(run), str(source), "--out", str(out), "--plot", str(plot)])
    assert code == 0, capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert lines[0].startswith("t_start,t_end,time_start,time_end,predicted,")
    assert lines[1].split(",")[2] == "2020-09-13T12:26:40.000+00:00" and plot.is_file()
