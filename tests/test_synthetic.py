"""Synthetic WESAD-format data: layout, pickle format, protocol, physiology, coupled and
uninformative modes."""

from __future__ import annotations

import io
import pickle
import pickletools

import numpy as np
import pytest
from scipy.signal import find_peaks

from xmodal.data import synthetic as sy
from xmodal.data.modalities import WESAD_MODALITIES
from xmodal.data.safe_pickle import load_pickle
from xmodal.data.synthetic import protocol as sp
from xmodal.data.synthetic import simulate_subject, simulate_wesad
from xmodal.data.synthetic import simulator as ss

CHEST = {"ACC": 3, "ECG": 1, "EMG": 1, "EDA": 1, "Temp": 1, "Resp": 1}
WRIST = {"ACC": (32, 3), "BVP": (64, 1), "EDA": (4, 1), "TEMP": (4, 1)}
NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),  # the same, as numpy 2 names it
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


class NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        return super().find_class(module, name)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("wesad")
    ids = simulate_wesad(out, subjects=11, minutes=6, seed=3)
    return out, ids


@pytest.fixture(scope="module")
def subjects(written):
    out, ids = written
    return {sid: load(out / sid / f"{sid}.pkl") for sid in ids[:6]}


def r_peaks(ecg):
    ecg = np.asarray(ecg).ravel()
    prom = 0.5 * (np.percentile(ecg, 99.5) - np.median(ecg))
    peaks, _ = find_peaks(ecg, distance=int(0.3 * 700), prominence=prom)
    return peaks


def segments(label):
    """(code, start, end) sample runs of the label array."""
    change = np.flatnonzero(np.diff(label)) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(label)]
    return [(int(label[a]), int(a), int(b)) for a, b in zip(starts, ends)]


# ------------------------------------------------------------------ layout and format


def test_layout_and_subject_ids(written):
    out, ids = written
    assert ids == ["S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S13"]
    assert sorted(p.name for p in out.iterdir()) == sorted(ids)
    for sid in ids:
        names = sorted(p.name for p in (out / sid).iterdir())
        assert names == sorted([f"{sid}.pkl", f"{sid}_quest.csv", f"{sid}_readme.txt"])
    assert sp.subject_ids(15)[-1] == "S17"  # the 15 WESAD subjects
    assert sp.subject_ids(17)[-3:] == ["S17", "S18", "S19"]


def test_pickle_is_protocol2_and_numpy_only(written):
    out, ids = written
    raw = (out / ids[0] / f"{ids[0]}.pkl").read_bytes()
    assert raw[:2] == b"\x80\x02"
    globals_seen = set()
    max_proto = 0
    for op, arg, _ in pickletools.genops(raw):
        max_proto = max(max_proto, op.proto)
        if op.name == "GLOBAL":
            globals_seen.add(tuple(arg.split(" ")))
    assert max_proto <= 2
    assert globals_seen <= NUMPY_GLOBALS
    d = NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    assert d["subject"] == ids[0]
    np.testing.assert_array_equal(d["label"], load(out / ids[0] / f"{ids[0]}.pkl")["label"])
    # the same arrays through the package's restricted unpickler and without latin1
    safe = load_pickle(out / ids[0] / f"{ids[0]}.pkl")
    plain = pickle.loads(raw)
    for dev in ("chest", "wrist"):
        for key, x in d["signal"][dev].items():
            for other in (safe, plain):
                y = other["signal"][dev][key]
                assert y.dtype == x.dtype and y.flags.writeable
                np.testing.assert_array_equal(y, x)


def test_keys_shapes_dtypes_lengths(subjects):
    for sid, d in subjects.items():
        assert set(d) == {"subject", "signal", "label"} and d["subject"] == sid
        assert set(d["signal"]) == {"chest", "wrist"}
        label = d["label"]
        assert label.ndim == 1 and label.dtype.kind == "i" and type(label) is np.ndarray
        n = len(label)
        assert n == 6 * 60 * 700
        assert set(d["signal"]["chest"]) == set(CHEST)
        for key, ch in CHEST.items():
            x = d["signal"]["chest"][key]
            assert type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n, ch)
            assert np.isfinite(x).all()
        assert set(d["signal"]["wrist"]) == set(WRIST)
        for key, (rate, ch) in WRIST.items():
            x = d["signal"]["wrist"][key]
            assert type(x) is np.ndarray and x.dtype == np.float64
            assert x.shape == (round(n / 700 * rate), ch)
            assert np.isfinite(x).all()
        for device in ("chest", "wrist"):
            for key, x in d["signal"][device].items():
                rate, ch = WESAD_MODALITIES[f"{device}.{key}"]
                assert x.shape[1] == ch and abs(len(x) / rate - n / 700) < 1.0 / rate
        wacc = d["signal"]["wrist"]["ACC"]
        np.testing.assert_array_equal(wacc, np.round(wacc))  # E4: 1/64 g integers
        assert 20 < np.abs(wacc).max() < 200
        assert 32 < d["signal"]["chest"]["Temp"].mean() < 36
        assert 29 < d["signal"]["wrist"]["TEMP"].mean() < 35.5
        assert (d["signal"]["wrist"]["EDA"] >= 0).all()


def test_quest_and_readme(written):
    out, ids = written
    sid = ids[0]
    lines = (out / sid / f"{sid}_quest.csv").read_text().splitlines()
    assert lines[0].split(";")[:2] == ["# Subj", sid]
    order = lines[1].split(";")
    assert order[0] == "# ORDER" and order[1] == "Base"
    assert sorted(order[1:6]) == sorted(["Base", "TSST", "Fun", "Medi 1", "Medi 2"])
    start = lines[2].split(";")
    end = lines[3].split(";")
    assert start[0] == "# START" and end[0] == "# END"
    label = load(out / sid / f"{sid}.pkl")["label"]
    code = {"Base": 1, "TSST": 2, "Fun": 3, "Medi 1": 4, "Medi 2": 4}
    for name, a, b in zip(order[1:6], start[1:6], end[1:6]):
        sec = [int(v.split(".")[0]) * 60 + int(v.split(".")[1]) for v in (a, b)]
        assert (label[sec[0] * 700 : sec[1] * 700] == code[name]).all()
    readme = (out / sid / f"{sid}_readme.txt").read_text()
    assert "Age:" in readme and "Gender:" in readme
    assert "synthetic, generated by xmodal simulate, seed=3" in readme
    assert not list(out.rglob("*.tmp"))


# ------------------------------------------------------------------ protocol


def test_segments_on_10s_grid_and_all_classes(subjects):
    versions = set()
    for d in subjects.values():
        segs = segments(d["label"])
        for _, a, _ in segs[1:]:
            assert a % 7000 == 0
        codes = [c for c, _, _ in segs if c != 0]
        assert codes[0] == 1 and codes[2] == 4 and codes[4] == 4
        assert sorted(codes[1:4:2]) == [2, 3]
        versions.add(codes[1])
        for c in (1, 2, 3, 4):
            assert (d["label"] == c).sum() >= 60 * 700
        assert set(np.unique(d["label"])) == {0, 1, 2, 3, 4}
    assert versions == {2, 3}  # both protocol versions occur among six subjects


@pytest.mark.parametrize("minutes", [4.7, 5.0, 6.0, 6.05, 13.3, 100.0])
def test_protocol_durations(minutes):
    n = int(round(minutes * 60 * 700))
    segs = sp.protocol_segments(n, stress_first=False)
    assert segs[0].start_s == 0 and segs[-1].end_s == pytest.approx(n / 700)
    for a, b in zip(segs, segs[1:]):
        assert a.end_s == b.start_s and a.end_s % 10 == 0
    total = {c: sum(s.end_s - s.start_s for s in segs if s.label == c) for c in range(5)}
    for c in (1, 2, 3, 4):
        assert total[c] >= 60
    if minutes >= 60:  # WESAD proportions: baseline 20, stress 10, amusement 6.5, meditation 14
        assert total[1] / total[2] == pytest.approx(2.0, rel=0.05)
        assert total[2] / total[3] == pytest.approx(10 / 6.5, rel=0.05)
        assert total[4] / total[2] == pytest.approx(1.4, rel=0.05)


def test_too_short_and_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="too short"):
        simulate_subject("S2", 4.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_subject("S2", -1, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_wesad(tmp_path, subjects=0)


# ------------------------------------------------------------------ determinism


def test_determinism(written, tmp_path):
    out, ids = written
    again = simulate_wesad(tmp_path, subjects=2, minutes=6, seed=3)
    assert again == ids[:2]
    for sid in again:
        new, old = (tmp_path / sid / f"{sid}.pkl"), (out / sid / f"{sid}.pkl")
        assert new.read_bytes() == old.read_bytes()
    a = simulate_subject("S2", 6, np.random.default_rng(1))
    b = simulate_subject("S2", 6, np.random.default_rng(1))
    c = simulate_subject("S2", 6, np.random.default_rng(2))
    for dev in ("chest", "wrist"):
        for key in a["signal"][dev]:
            np.testing.assert_array_equal(a["signal"][dev][key], b["signal"][dev][key])
    assert not np.array_equal(a["signal"]["chest"]["ECG"], c["signal"]["chest"]["ECG"])


# ------------------------------------------------------------------ physiology


def test_heart_rate_range_and_bvp_follows_ecg(subjects):
    for d in subjects.values():
        label = d["label"]
        peaks = r_peaks(d["signal"]["chest"]["ECG"])
        hr = len(peaks) / (len(label) / 700) * 60
        assert 45 < hr < 120
        rr = np.diff(peaks) / 700
        assert 0.3 < rr.min() and rr.max() < 1.6  # no missed or doubled beats
        bvp = d["signal"]["wrist"]["BVP"].ravel()
        bpeaks, _ = find_peaks(
            bvp, distance=int(0.3 * 64), prominence=0.5 * (np.percentile(bvp, 99) - np.median(bvp))
        )
        assert abs(len(bpeaks) - len(peaks)) < 0.1 * len(peaks)


def test_stress_raises_heart_rate_and_eda(subjects):
    d_hr, d_eda = [], []
    for d in subjects.values():
        label = d["label"]
        peaks = r_peaks(d["signal"]["chest"]["ECG"])
        eda = d["signal"]["chest"]["EDA"].ravel()

        def rate(c, label=label, peaks=peaks):
            m = label == c
            return m[peaks].sum() / m.sum() * 700 * 60

        d_hr.append(rate(2) - rate(1))
        d_eda.append(eda[label == 2].mean() / eda[label == 1].mean() - 1)
        assert rate(2) > rate(1) + 3
    assert np.mean(d_hr) > 8
    assert np.mean(d_eda) > 0.05 and np.mean(np.array(d_eda) > 0) >= 5 / 6


def _window_features(d):
    """Per full 10-s window inside a class segment: (class, HR from RR, mean chest EDA)."""
    label = d["label"]
    peak_t = r_peaks(d["signal"]["chest"]["ECG"]) / 700
    eda = d["signal"]["chest"]["EDA"].ravel()
    rows = []
    for w in range(len(label) // 7000):
        a, b = w * 7000, (w + 1) * 7000
        if label[a] == 0 or label[a] != label[b - 1]:
            continue
        rr = np.diff(peak_t[(peak_t >= a / 700) & (peak_t < b / 700)])
        rows.append((label[a], 60 / rr.mean(), eda[a:b].mean()))
    return np.array(rows)


def _four_levels(x):
    """1-D k-means with 4 clusters (started at quartiles); cluster rank per value."""
    centers = np.quantile(x, [0.125, 0.375, 0.625, 0.875])
    for _ in range(20):
        assign = np.abs(x[:, None] - centers[None, :]).argmin(1)
        centers = np.array(
            [x[assign == k].mean() if (assign == k).any() else centers[k] for k in range(4)]
        )
    return np.argsort(np.argsort(centers))[assign]


def test_coupled_needs_ecg_and_eda_together():
    offset = {1: 0, 2: 1, 3: 2, 4: 3}
    hit, n, per_class_hr, by_h, by_e, classes = 0, 0, {c: [] for c in offset}, [], [], []
    for i in range(4):
        d = simulate_subject(f"S{i}", 12, np.random.default_rng([11, i]), coupled=True)
        f = _window_features(d)
        c, hr, eda = f[:, 0].astype(int), f[:, 1], f[:, 2]
        # four clearly separated levels per modality and subject
        h = _four_levels(hr)
        e = _four_levels(eda)
        pred = (e - h) % 4
        truth = np.array([offset[x] for x in c])
        hit += (pred == truth).sum()
        n += len(c)
        hr_z = (hr - hr.mean()) / hr.std()
        for k in offset:
            per_class_hr[k].extend(hr_z[c == k])
        by_h.append(h)
        by_e.append(e)
        classes.append(c)
    assert hit / n > 0.9  # jointly: class determined
    means = [np.mean(v) for v in per_class_hr.values()]
    assert max(means) - min(means) < 0.4  # HR alone: same level per class
    c = np.concatenate(classes)
    majority = np.bincount(c).max() / len(c)
    for levels in (np.concatenate(by_h), np.concatenate(by_e)):
        # best "level -> class" lookup table is barely better than always guessing the majority
        best = sum(np.bincount(c[levels == k]).max() for k in range(4) if (levels == k).any())
        assert best / len(c) < majority + 0.12


def test_non_coupled_heart_rate_alone_is_informative(subjects):
    """Contrast to the coupled test: in ordinary mode HR differs between classes."""
    per_class = {c: [] for c in (1, 2, 3, 4)}
    for d in subjects.values():
        f = _window_features(d)
        z = (f[:, 1] - f[:, 1].mean()) / f[:, 1].std()
        for c in per_class:
            per_class[c].extend(z[f[:, 0] == c])
    assert np.mean(per_class[2]) - np.mean(per_class[1]) > 1.0
    assert np.mean(per_class[4]) < np.mean(per_class[1])


# ------------------------------------------------------------------ uninformative modalities


def _load_all(folder):
    return {p.name: load(p / f"{p.name}.pkl") for p in sorted(folder.iterdir())}


def test_uninformative_writes_dataset_and_keeps_the_rest(tmp_path):
    simulate_wesad(tmp_path / "a", subjects=2, minutes=5, seed=4)
    simulate_wesad(tmp_path / "b", subjects=2, minutes=5, seed=4, uninformative=())
    simulate_wesad(tmp_path / "c", subjects=2, minutes=5, seed=4, uninformative=["chest.ECG"])
    for f in (tmp_path / "a").rglob("*.*"):  # the option unused: byte-identical files
        assert (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes() == f.read_bytes()
    assert set(sy.MODALITIES) == set(WESAD_MODALITIES)
    plain, unin = _load_all(tmp_path / "a"), _load_all(tmp_path / "c")
    assert list(unin) == ["S2", "S3"]
    for sid, d in unin.items():
        np.testing.assert_array_equal(d["label"], plain[sid]["label"])
        for dev in ("chest", "wrist"):
            assert list(d["signal"][dev]) == list(plain[sid]["signal"][dev])
            for key, x in d["signal"][dev].items():
                y = plain[sid]["signal"][dev][key]
                assert x.shape == y.shape and x.dtype == y.dtype and np.isfinite(x).all()
                assert np.array_equal(x, y) == (f"{dev}.{key}" != "chest.ECG")
        quest = f"{sid}/{sid}_quest.csv"
        assert (tmp_path / "c" / quest).read_bytes() == (tmp_path / "a" / quest).read_bytes()
        readme = (tmp_path / "c" / sid / f"{sid}_readme.txt").read_text()
        assert "coupled=False, uninformative=chest.ECG\n" in readme
        hr = len(r_peaks(d["signal"]["chest"]["ECG"])) / (len(d["label"]) / 700) * 60
        assert 45 < hr < 120  # still a plausible ECG


def test_uninformative_modality_ignores_the_labels(monkeypatch):
    """Other labels and segment boundaries, same seed: the uninformative signals are identical."""
    names = ["chest.ECG", "chest.EDA", "wrist.ACC"]
    a = simulate_subject("S2", 5, np.random.default_rng(8), uninformative=names)
    protocol = sp.protocol_segments
    perm = {0: 0, 1: 2, 2: 3, 3: 4, 4: 1}

    def other(n, stress_first):  # classes permuted, every inner boundary 5 s later
        segs = protocol(n, not stress_first)
        end = segs[-1].end_s
        move = lambda t: t if t in (0.0, end) else t + 5.0  # noqa: E731
        return [sp.Segment(perm[s.label], s.name, move(s.start_s), move(s.end_s)) for s in segs]

    monkeypatch.setattr(ss, "protocol_segments", other)
    b = simulate_subject("S2", 5, np.random.default_rng(8), uninformative=names)
    assert (a["label"] != b["label"]).mean() > 0.5
    starts_a, starts_b = ([s[1] for s in segments(x["label"])[1:]] for x in (a, b))
    assert len(starts_a) == len(starts_b) and not set(starts_a) & set(starts_b)
    for dev in ("chest", "wrist"):
        for key in a["signal"][dev]:
            same = np.array_equal(a["signal"][dev][key], b["signal"][dev][key])
            assert same == (f"{dev}.{key}" in names), f"{dev}.{key}"


def _class_means(signals, features):
    """Class (1-4) means of per-subject z-scored window features, pooled over subjects."""
    pooled = {c: [] for c in (1, 2, 3, 4)}
    for d in signals:
        c, x = features(d)
        z = (x - x.mean()) / x.std()
        for k in pooled:
            pooled[k].extend(z[c == k])
    return np.array([np.mean(v) for v in pooled.values()])


def _window_rates(d):
    """Per full 10-s class window: (class, ECG beats, BVP pulses, chest EDA, wrist EDA)."""
    label = d["label"]
    ecg_t = r_peaks(d["signal"]["chest"]["ECG"]) / 700
    bvp = d["signal"]["wrist"]["BVP"].ravel()
    bvp_t = (
        find_peaks(
            bvp, distance=int(0.3 * 64), prominence=0.5 * (np.percentile(bvp, 99) - np.median(bvp))
        )[0]
        / 64
    )
    eda, weda = d["signal"]["chest"]["EDA"].ravel(), d["signal"]["wrist"]["EDA"].ravel()
    rows = []
    for w in range(len(label) // 7000):
        a, b = w * 7000, (w + 1) * 7000
        if label[a] != 0 and label[a] == label[b - 1]:
            rows.append(
                (
                    label[a],
                    ((ecg_t >= 10 * w) & (ecg_t < 10 * w + 10)).sum(),
                    ((bvp_t >= 10 * w) & (bvp_t < 10 * w + 10)).sum(),
                    eda[a:b].mean(),
                    weda[40 * w : 40 * w + 40].mean(),
                )
            )
    return np.array(rows, float)


def test_uninformative_modality_has_no_class_effect():
    """Heart rate from chest ECG and chest EDA level (uninformative) have the same mean in every
    class, while heart rate from wrist BVP and wrist EDA level (informative) do not.

    With 12 subjects x 10 min the class means of the uninformative features scatter by about
    0.35 z (30 seeds: at most 0.97); the informative ones span at least 2 z.
    """
    feats = []
    for i in range(12):
        rng = np.random.default_rng(np.random.SeedSequence([21, i]))
        d = simulate_subject(f"S{i}", 10, rng, uninformative=["chest.ECG", "chest.EDA"])
        feats.append(_window_rates(d))
    means = {
        name: _class_means(feats, lambda f, j=j: (f[:, 0], f[:, j]))
        for j, name in enumerate(("ecg_hr", "bvp_hr", "chest_eda", "wrist_eda"), 1)
    }
    for name in ("ecg_hr", "chest_eda"):  # uninformative
        assert np.ptp(means[name]) < 1.2, (name, means[name])
    for name in ("bvp_hr", "wrist_eda"):  # informative
        assert np.ptp(means[name]) > 1.5, (name, means[name])
        assert means[name][1] - means[name][0] > 1.0  # stress above baseline


def test_uninformative_bad_names(tmp_path, capsys):
    from xmodal.cli import build_parser, main
    from xmodal.errors import ConfigError

    for bad in (["chest.ECG", "chest.ecg"], ["ECG"], "wrist.Temp"):
        with pytest.raises(ConfigError, match="^unknown modality .*valid: chest.ACC") as exc:
            simulate_wesad(tmp_path / "x", subjects=1, minutes=5, uninformative=bad)
        assert isinstance(exc.value, ValueError) and "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="cannot be combined with coupled"):
        simulate_wesad(
            tmp_path / "x", subjects=1, minutes=5, coupled=True, uninformative=["chest.ECG"]
        )
    with pytest.raises(ValueError, match="unknown modality"):
        simulate_subject("S2", 5, np.random.default_rng(0), uninformative=["chest.XYZ"])
    assert not (tmp_path / "x").exists()
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "x"), "--uninformative", "chest.ECG", "foo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xmodal: error: unknown modality 'foo'") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    assert main(["simulate", str(tmp_path / "x"), "--coupled", "--uninformative", "chest.ECG"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", str(tmp_path / "x"), "--uninformative"])
    assert exit_.value.code == 2
    # the help lists exactly the names the simulator accepts
    sim = build_parser()._subparsers._group_actions[0].choices["simulate"]
    help_text = next(a.help for a in sim._actions if a.dest == "uninformative")
    assert help_text.split("valid: ")[1].split(";")[0].split(", ") == list(sy.MODALITIES)


def test_dump_pickle_round_trip(tmp_path):
    """Any dtype, empty and Fortran-ordered arrays survive the WESAD-style pickle."""
    from xmodal.data.synthetic.wesad_writer import dump_pickle

    obj = {
        "subject": "S2",
        "a": np.arange(6, dtype=np.int32),
        "b": np.zeros((0, 3)),
        "c": np.asfortranarray(np.random.default_rng(0).normal(size=(5, 3))),
        "d": np.array([255, 0, 128], np.uint8),
        "e": np.float32([1.5, -2.0]),
    }
    path = tmp_path / "x.pkl"
    with open(path, "wb") as f:
        dump_pickle(obj, f)
    for back in (load_pickle(path), load(path)):
        assert list(back) == list(obj) and back["subject"] == "S2"
        for key in "abcde":
            assert back[key].dtype == obj[key].dtype and back[key].shape == obj[key].shape
            np.testing.assert_array_equal(back[key], obj[key])
