"""The responder population: per-subject response profiles, drawn, written and rendered."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy.signal import find_peaks

from xmodal.data.safe_pickle import load_pickle
from xmodal.data.synthetic import responders as rs
from xmodal.data.synthetic import simulate_subject, simulate_wesad
from xmodal.data.synthetic import simulator as ss
from xmodal.data.synthetic.protocol import AMUSEMENT, BASELINE, MEDITATION, STRESS
from xmodal.data.synthetic.variation import subject_params


def _profile(**strengths: float) -> dict[str, dict[str, float]]:
    row = {ch: strengths.get(ch, 0.0) for ch in rs.CHANNELS}
    return {"stress": dict(row), "amusement": dict(row)}


def test_responders_deterministic_and_profiles_as_drawn(tmp_path):
    a, b, c, plain = (tmp_path / x for x in "abcp")
    ids = simulate_wesad(a, subjects=2, minutes=5, seed=2, responders=True)
    simulate_wesad(b, subjects=2, minutes=5, seed=2, responders=True)
    simulate_wesad(c, subjects=2, minutes=5, seed=3, responders=True)
    simulate_wesad(plain, subjects=2, minutes=5, seed=2)
    for f in a.rglob("*.*"):  # same seed: byte-identical files
        assert (b / f.relative_to(a)).read_bytes() == f.read_bytes()
    assert not (plain / ss.RESPONDERS_FILE).exists()
    doc = json.loads((a / ss.RESPONDERS_FILE).read_text())
    assert doc["seed"] == 2 and list(doc["subjects"]) == ids
    assert doc["channels"]["electrodermal"] == ["chest.EDA", "wrist.EDA"]
    other = json.loads((c / ss.RESPONDERS_FILE).read_text())["subjects"]
    assert other != doc["subjects"]
    for sid in ids:
        # the file holds what the subject's own responder stream draws
        rng = np.random.default_rng(np.random.SeedSequence([2, int(sid[1:])]))
        drawn = rs.draw_profile(rs.responder_rng(rng))
        written = doc["subjects"][sid]
        assert written.pop("responding") == rs.profile_summary(drawn)
        assert written == drawn
        readme = (a / sid / f"{sid}_readme.txt").read_text()
        assert "Responding channels: stress: " in readme
        # protocol, labels and quest file are those of the ordinary dataset
        for name in (f"{sid}_quest.csv",):
            assert (a / sid / name).read_bytes() == (plain / sid / name).read_bytes()
        x, y = (load_pickle(d / sid / f"{sid}.pkl") for d in (a, plain))
        np.testing.assert_array_equal(x["label"], y["label"])
    # a later run without the option removes the stale profile file
    simulate_wesad(a, subjects=1, minutes=5, seed=2)
    assert not (a / ss.RESPONDERS_FILE).exists()


def test_draw_profile_ranges_and_a_primary_channel_always_responds():
    rng = np.random.default_rng(0)
    silent = {ch: 0 for ch in rs.CHANNELS}
    for _ in range(300):
        prof = rs.draw_profile(rng)
        assert list(prof) == ["stress", "amusement"]
        for row in prof.values():
            assert list(row) == list(rs.CHANNELS)
            assert row["cardiac"] > 0 or row["electrodermal"] > 0
            for ch, s in row.items():
                assert s == 0.0 or rs.STRENGTH[0] <= s <= rs.STRENGTH[1]
                silent[ch] += s == 0.0
    # every channel is silent for some people and responds for others
    assert all(60 < n < 300 for n in silent.values()), silent


def test_apply_profile_scales_towards_baseline():
    p = subject_params(np.random.default_rng(1))
    zero, one = copy.deepcopy(p["effects"]), copy.deepcopy(p["effects"])
    rs.apply_profile(zero, _profile())
    rs.apply_profile(one, _profile(cardiac=1.0, electrodermal=1.0, thermal=1.0, motor=1.0))
    for code in (STRESS, AMUSEMENT):
        for key, base in p["effects"][BASELINE].items():
            assert zero[code][key] == pytest.approx(base)
            assert one[code][key] == pytest.approx(p["effects"][code][key])
    assert zero[MEDITATION] == p["effects"][MEDITATION]  # meditation keeps its effects
    half = copy.deepcopy(p["effects"])
    rs.apply_profile(half, _profile(cardiac=0.5))
    assert half[STRESS]["hr"] == pytest.approx(0.5 * p["effects"][STRESS]["hr"])
    assert half[STRESS]["br"] == pytest.approx(p["effects"][STRESS]["br"] ** 0.5)
    assert half[STRESS]["eda"] == 0.0


def _contrast(data: dict) -> tuple[float, float]:
    """Stress minus baseline: wrist EDA (mean, in baseline stds) and pulse rate (bpm)."""
    label = data["label"][::175]  # 700 Hz -> 4 Hz
    eda = data["signal"]["wrist"]["EDA"][: len(label), 0]
    base, stress = label[: len(eda)] == BASELINE, label[: len(eda)] == STRESS
    eda_c = (eda[stress].mean() - eda[base].mean()) / eda[base].std()
    bvp = data["signal"]["wrist"]["BVP"][:, 0]
    peaks, _ = find_peaks(bvp, distance=int(0.33 * 64), prominence=0.3 * bvp.std())
    t = peaks[1:] / 64.0
    rate = 60.0 / np.diff(peaks / 64.0)
    lab = data["label"][(t * 700).astype(int)]
    return float(eda_c), float(rate[lab == STRESS].mean() - rate[lab == BASELINE].mean())


def test_silent_channel_carries_nothing(monkeypatch):
    """Same seed, opposite profiles: the silent channel's stress contrast vanishes."""
    out = {}
    for name, prof in {
        "eda": _profile(electrodermal=1.4),
        "cardiac": _profile(cardiac=1.4),
    }.items():
        monkeypatch.setattr(ss, "draw_profile", lambda rng, prof=prof: prof)
        out[name] = _contrast(simulate_subject("S2", 6, np.random.default_rng(5), responders=True))
    (eda_e, hr_e), (eda_c, hr_c) = out["eda"], out["cardiac"]
    assert eda_e > 1.0 and abs(eda_c) < 0.5 * eda_e, out
    assert hr_c > 5.0 and abs(hr_e) < 0.4 * hr_c, out


def test_responders_bad_arguments(tmp_path, capsys):
    from xmodal.cli import main

    with pytest.raises(ValueError, match="cannot be combined with coupled"):
        simulate_wesad(tmp_path / "x", subjects=1, minutes=5, coupled=True, responders=True)
    with pytest.raises(ValueError, match="cannot be combined with coupled"):
        simulate_subject("S2", 5, np.random.default_rng(0), coupled=True, responders=True)
    assert main(["simulate", str(tmp_path / "x"), "--coupled", "--responders"]) == 2
    err = capsys.readouterr().err
    assert "cannot be combined with coupled" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    assert main(["simulate", str(tmp_path / "y"), "--subjects", "1", "--minutes", "5",
                 "--responders"]) == 0  # fmt: skip
    assert "response profiles:" in capsys.readouterr().out
    assert list(json.loads((tmp_path / "y" / ss.RESPONDERS_FILE).read_text())["subjects"]) == ["S2"]
