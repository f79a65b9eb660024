"""WESAD loader and restricted unpickler: Python-2 pickles, real files, malicious pickles."""

from __future__ import annotations

import builtins
import copyreg
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xmodal.data.recording import Recording
from xmodal.data.safe_pickle import ALLOWED_GLOBALS, load_pickle
from xmodal.data.wesad import find_wesad_subjects, load_wesad, load_wesad_subject
from xmodal.errors import ConfigError, DataError, UnsafePickleError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SNIPPET = SHARED / "data" / "wesad_chest_snippet" / "S16_snippet.pkl"
BUILD_WESAD = SHARED / "data" / "wesad_wrist" / "build_wesad.py"

CHEST = ("ACC", "ECG", "EMG", "EDA", "Temp", "Resp")
WRIST_RATES = {"ACC": 32, "BVP": 64, "EDA": 4, "TEMP": 4}


# --------------------------------------------------------------------------------------------
# fixtures: WESAD-style pickles
# --------------------------------------------------------------------------------------------


def py2_pickle(obj, protocol: int = 2) -> bytes:
    """Serialise ``obj`` exactly as Python 2 with numpy 1.x wrote WESAD's ``SX.pkl``.

    Python 3 cannot write Python-2 ``str`` objects, so the opcodes are emitted by hand: strings
    (dict keys and raw array bytes) as 8-bit STRING/BINSTRING, which Python 3 reads only with
    ``encoding="latin1"``; arrays via ``numpy.core.multiarray._reconstruct`` + ``BUILD`` with
    numpy 1.x's state tuple. Protocol 0 (text) and 2 (binary) are supported.
    """
    out = bytearray(b"\x80\x02" if protocol == 2 else b"")

    def string(data: bytes) -> None:
        if protocol == 0:
            out.extend(b"S'" + "".join(f"\\x{b:02x}" for b in data).encode() + b"'\n")
        elif len(data) < 256:
            out.extend(b"U" + bytes([len(data)]) + data)
        else:
            out.extend(b"T" + struct.pack("<i", len(data)) + data)

    def integer(value: int) -> None:
        if protocol == 0:
            out.extend(b"I%d\n" % value)
        else:
            out.extend(b"J" + struct.pack("<i", value))

    def boolean(value: bool) -> None:
        out.extend(
            (b"I01\n" if value else b"I00\n") if protocol == 0 else (b"\x88" if value else b"\x89")
        )

    def emit(o) -> None:
        if isinstance(o, dict):
            out.extend(b"(d")
            for k, v in o.items():
                emit(k)
                emit(v)
                out.extend(b"s")
        elif isinstance(o, str):
            string(o.encode("latin1"))
        elif isinstance(o, bool):
            boolean(o)
        elif isinstance(o, int):
            integer(o)
        elif o is None:
            out.extend(b"N")
        elif isinstance(o, tuple):
            out.extend(b"(")
            for item in o:
                emit(item)
            out.extend(b"t")
        elif isinstance(o, np.ndarray):
            o = np.ascontiguousarray(o)
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n")
            emit((0,))
            string(b"b")
            out.extend(b"tR(")
            integer(1)
            emit(tuple(int(s) for s in o.shape))
            dt = o.dtype
            out.extend(b"cnumpy\ndtype\n(")
            string(f"{dt.kind}{dt.itemsize}".encode())
            integer(0)
            integer(1)
            out.extend(b"tR")
            order = "|" if dt.itemsize == 1 else "<"
            emit((3, order, None, None, None, -1, -1, 0))
            out.extend(b"b")
            boolean(False)
            string(o.astype(dt.newbyteorder("<")).tobytes())
            out.extend(b"tb")
        else:  # pragma: no cover - fixture misuse
            raise TypeError(type(o))

    emit(obj)
    out.extend(b".")
    return bytes(out)


def make_subject(
    n_seconds: float = 20.0,
    subject: str = "S2",
    chest: bool = True,
    wrist: bool = True,
    seed: int = 0,
) -> dict:
    """A small WESAD-layout dict: chest and labels at 700 Hz, wrist at native rates."""
    rng = np.random.default_rng(seed)
    n = int(n_seconds * 700)
    label = np.zeros(n, dtype=np.int32)
    label[n // 4 : n // 2] = 1
    label[n // 2 : 3 * n // 4] = 2
    signal = {}
    if chest:
        signal["chest"] = {k: rng.normal(size=(n, 3 if k == "ACC" else 1)) for k in CHEST}
    if wrist:
        signal["wrist"] = {
            k: rng.normal(size=(int(n_seconds * r), 3 if k == "ACC" else 1))
            for k, r in WRIST_RATES.items()
        }
    return {"signal": signal, "label": label, "subject": subject}


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_subject(
    root: Path, obj: dict, name: str | None = None, protocol: int = 2, py2: bool = False
) -> Path:
    name = name or obj["subject"]
    data = py2_pickle(obj, protocol) if py2 else pickle.dumps(obj, protocol=protocol)
    return write(root / name / f"{name}.pkl", data)


# --------------------------------------------------------------------------------------------
# safe_pickle
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2])
def test_python2_pickle_needs_latin1_and_loads(tmp_path, protocol):
    obj = make_subject(2.0)
    data = py2_pickle(obj, protocol)
    assert b"numpy.core.multiarray" in data
    # WESAD's pickles are not readable with Python 3's default ASCII decoding ...
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    # ... but load through the restricted unpickler (latin1), with numpy 1.x names mapped.
    loaded = load_pickle(write(tmp_path / "S2.pkl", data))
    assert loaded["subject"] == "S2"
    assert np.array_equal(loaded["label"], obj["label"])
    for k in CHEST:
        np.testing.assert_array_equal(loaded["signal"]["chest"][k], obj["signal"]["chest"][k])
    for k in WRIST_RATES:
        np.testing.assert_array_equal(loaded["signal"]["wrist"][k], obj["signal"]["wrist"][k])


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_python3_pickles_of_numpy_objects_round_trip(tmp_path, protocol):
    objs = [
        np.zeros(0),
        np.arange(5.0),
        np.float64(1.5),
        np.int32(-3),
        np.arange(12).reshape(3, 4)[:, ::2],
        np.zeros((2, 0, 3), dtype=np.float32),
        np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]),
        np.array(["ab", "c"]),
        {"a": [1, 2.5, "x", None, True], "b": (np.arange(4.0).reshape(2, 2).T,)},
    ]
    for i, obj in enumerate(objs):
        data = pickle.dumps(obj, protocol=protocol)
        loaded = load_pickle(write(tmp_path / f"{i}.pkl", data))
        assert repr(loaded) == repr(pickle.loads(data)), (protocol, obj)


def test_allow_list_is_numpy_only():
    names = {f"{m}.{n}" for m, n in ALLOWED_GLOBALS}
    assert names == {
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ndarray",
        "numpy.dtype",
        "_codecs.encode",
        "builtins.bytes",
        "__builtin__.bytes",
    }


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Open:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


class _Eval:
    def __reduce__(self):
        return (builtins.eval, ("1 + 1",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_pickle_is_refused_and_never_executed(tmp_path, protocol):
    pwned = tmp_path / "pwned"
    for i, payload in enumerate([_System(f"touch {pwned}"), _Open(str(pwned))]):
        obj = make_subject(1.0)
        obj["signal"]["chest"]["ECG"] = payload  # hidden deep inside an otherwise valid file
        path = write(tmp_path / f"evil{i}.pkl", pickle.dumps(obj, protocol=protocol))
        with pytest.raises(UnsafePickleError) as err:
            load_pickle(path)
        assert str(path) in str(err.value)
        assert (
            "posix.system" in str(err.value)
            or "os.system" in str(err.value)
            or "builtins.open" in str(err.value)
            or "io.open" in str(err.value)
        )
        with pytest.raises(UnsafePickleError):
            load_wesad_subject(path, ["chest.EDA"])
        assert not pwned.exists()


def test_eval_reference_is_refused(tmp_path):
    for protocol in (0, 2, 4):
        path = write(tmp_path / "eval.pkl", pickle.dumps({"x": _Eval()}, protocol=protocol))
        with pytest.raises(
            UnsafePickleError,
            match=r"eval\.pkl: unsafe pickle, refused global "
            r"(__builtin__|builtins)\.eval",
        ):
            load_pickle(path)
    # the Python-2 spelling, hand-written
    path = write(tmp_path / "eval2.pkl", b"c__builtin__\neval\n(S'1+1'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"__builtin__\.eval"):
        load_pickle(path)


def test_admitted_globals_cannot_be_abused(tmp_path):
    cases = {
        # numpy.ndarray called directly (only a marker for _reconstruct)
        "ndarray": b"\x80\x02cnumpy\nndarray\nK\x05\x85R.",
        # _codecs.encode with another codec
        "codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.",
        # bytes() with an argument (bytes(10**12) would exhaust memory)
        "bytes": b"\x80\x02c__builtin__\nbytes\nK\x05\x85R.",
        # BUILD applied to an admitted global, to tamper with it
        "build": b"\x80\x02cnumpy\ndtype\n}U\x01aK\x01sb.",
        # _reconstruct asked for something else than an ndarray
        "reconstruct": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\n"
        b"K\x00\x85U\x01b\x87R.",
        # a persistent id
        "persid": b"\x80\x02U\x03abcQ.",
        # a plain protocol-0 reference to os.system
        "global_proto0": b"cos\nsystem\n(S'true'\ntR.",
    }
    for name, data in cases.items():
        with pytest.raises(UnsafePickleError):
            load_pickle(write(tmp_path / f"{name}.pkl", data))


def test_extension_codes_go_through_the_allow_list(tmp_path):
    code, module = 0x7FFFFFF0, os.system.__module__  # "posix" on Linux
    copyreg.add_extension(module, "system", code)
    try:
        data = pickle.dumps(os.system, protocol=2)
        assert data == b"\x80\x02\x84" + struct.pack("<i", code) + b"."  # EXT4, no name
        with pytest.raises(UnsafePickleError, match=rf"{module}\.system"):
            load_pickle(write(tmp_path / "ext.pkl", data))
    finally:
        copyreg.remove_extension(module, "system", code)


def test_out_of_band_buffers_are_refused(tmp_path):
    buffers = []
    data = pickle.dumps(np.arange(10.0), protocol=5, buffer_callback=buffers.append)
    assert buffers  # the array data lives outside the stream
    with pytest.raises(UnsafePickleError, match="out-of-band"):
        load_pickle(write(tmp_path / "oob.pkl", data))


def test_truncated_corrupt_and_missing_files(tmp_path):
    data = pickle.dumps(make_subject(1.0), protocol=2)
    for cut in (len(data) // 2, len(data) - 1, 10):
        path = write(tmp_path / f"cut{cut}.pkl", data[:cut])
        with pytest.raises(DataError, match=r"cut\d+\.pkl: truncated or corrupt pickle \(") as e:
            load_pickle(path)
        assert not isinstance(e.value, UnsafePickleError)
    with pytest.raises(DataError, match="empty file"):
        load_pickle(write(tmp_path / "empty.pkl", b""))
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_pickle(write(tmp_path / "garbage.pkl", b"this is not a pickle at all"))
    with pytest.raises(DataError, match="nowhere.pkl: file not found"):
        load_pickle(tmp_path / "nowhere.pkl")
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_wesad_subject(tmp_path / f"cut{len(data) // 2}.pkl", ["chest.ECG"])


@pytest.mark.skipif(not SNIPPET.exists(), reason=f"shared real data absent ({SNIPPET})")
def test_real_s16_snippet_protocol5():
    raw = load_pickle(SNIPPET)
    assert raw["subject"] == "S16"
    assert set(raw["signal"]["chest"]) == set(CHEST)
    rec = load_wesad_subject(SNIPPET, [f"chest.{k}" for k in CHEST])
    assert rec.subject == "S16" and rec.dataset == "wesad" and rec.source == SNIPPET
    assert rec.label_rate == 700.0 and rec.labels.dtype == np.int8
    assert len(rec.labels) == 37100 and set(np.unique(rec.labels)) == {7}
    for k in CHEST:
        sig = rec.signals[f"chest.{k}"]
        assert sig.rate == 700.0
        assert sig.data.shape == (37100, 3 if k == "ACC" else 1)
        assert sig.data.dtype == np.float32 and sig.data.flags.c_contiguous
        assert np.isfinite(sig.data).all()
        np.testing.assert_allclose(
            sig.data, raw["signal"]["chest"][k].reshape(37100, -1), rtol=1e-6, atol=1e-6
        )
    assert abs(rec.duration - 53.0) < 1e-9
    # as a single-file root for prediction
    assert find_wesad_subjects(SNIPPET) == {"S16_snippet": SNIPPET}


# --------------------------------------------------------------------------------------------
# wesad: discovery
# --------------------------------------------------------------------------------------------


def test_find_subjects_numeric_order_and_subsets(tmp_path):
    for name in ("S10", "S2", "S3", "S23", "S9"):
        write(tmp_path / name / f"{name}.pkl", b"x")
    (tmp_path / "notes").mkdir()
    write(tmp_path / "readme.txt", b"x")
    found = find_wesad_subjects(tmp_path)
    assert list(found) == ["S2", "S3", "S9", "S10", "S23"]
    assert found["S10"] == tmp_path / "S10" / "S10.pkl"
    assert list(find_wesad_subjects(tmp_path, ["S10", "s3", "2"])) == ["S2", "S3", "S10"]
    with pytest.raises(DataError, match=r"subject S5 not found \(found: S2, S3, S9, S10, S23\)"):
        find_wesad_subjects(tmp_path, ["S2", "S5"])
    # a single subject folder, a single file
    assert find_wesad_subjects(tmp_path / "S9") == {"S9": tmp_path / "S9" / "S9.pkl"}
    assert find_wesad_subjects(tmp_path / "S9" / "S9.pkl") == {"S9": tmp_path / "S9" / "S9.pkl"}


def test_find_subjects_errors(tmp_path):
    with pytest.raises(DataError, match="missing: WESAD data not found"):
        find_wesad_subjects(tmp_path / "missing")
    with pytest.raises(DataError, match=r"notes\.txt: not a WESAD folder nor a \.pkl file"):
        find_wesad_subjects(write(tmp_path / "notes.txt", b"x"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty: no WESAD subject found"):
        find_wesad_subjects(empty)
    root = tmp_path / "root"
    write(root / "S2" / "S2.pkl", b"x")
    (root / "S3").mkdir()
    write(root / "S3" / "S3_quest.csv", b"x")
    with pytest.raises(DataError, match=r"S3: subject folder without its pickle S3\.pkl"):
        find_wesad_subjects(root)
    with pytest.raises(DataError, match=r"S3: subject folder without its pickle S3\.pkl"):
        find_wesad_subjects(root, ["S3"])
    assert list(find_wesad_subjects(root, ["S2"])) == ["S2"]


# --------------------------------------------------------------------------------------------
# wesad: loading and validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("py2", [True, False])
def test_load_subject_keeps_requested_modalities_as_float32(tmp_path, py2):
    obj = make_subject(20.0, "S3")
    obj["signal"]["chest"]["EDA"] = obj["signal"]["chest"]["EDA"][:, 0]  # (n,) is fine too
    obj["signal"]["chest"]["ECG"][5:9] = np.nan  # left to preprocessing
    path = write_subject(tmp_path, obj, py2=py2)
    rec = load_wesad_subject(path, ["chest.ECG", "chest.EDA", "wrist.BVP", "wrist.ACC"])
    assert isinstance(rec, Recording)
    assert rec.subject == "S3" and rec.source == path and rec.label_rate == 700.0
    assert list(rec.signals) == ["chest.ECG", "chest.EDA", "wrist.BVP", "wrist.ACC"]
    expected = {
        "chest.ECG": (700.0, (14000, 1)),
        "chest.EDA": (700.0, (14000, 1)),
        "wrist.BVP": (64.0, (1280, 1)),
        "wrist.ACC": (32.0, (640, 3)),
    }
    for m, (rate, shape) in expected.items():
        assert rec.signals[m].rate == rate
        assert rec.signals[m].data.shape == shape
        assert rec.signals[m].data.dtype == np.float32
        assert abs(rec.signals[m].duration - 20.0) < 1e-9
    assert np.isnan(rec.signals["chest.ECG"].data[5:9]).all()
    np.testing.assert_allclose(
        rec.signals["wrist.ACC"].data, obj["signal"]["wrist"]["ACC"], rtol=1e-6
    )
    assert rec.labels.dtype == np.int8 and np.array_equal(rec.labels, obj["label"])
    # subject name given by the caller wins over the stored one
    assert load_wesad_subject(path, ["chest.ECG"], subject="S99").subject == "S99"
    # the folder works as well as the file
    assert load_wesad_subject(path.parent, ["chest.ECG"]).subject == "S3"


def test_load_wesad_yields_subjects_in_order(tmp_path):
    for name in ("S11", "S2", "S4"):
        write_subject(tmp_path, make_subject(3.0, name))
    recs = list(load_wesad(tmp_path, ["chest.EDA"], ["S11", "S2"]))
    assert [r.subject for r in recs] == ["S2", "S11"]


def test_float_and_bytes_keyed_labels(tmp_path):
    obj = make_subject(2.0)
    obj["label"] = obj["label"].astype(np.float64)[:, None]  # float (n, 1) labels re-pickled
    obj = {
        b"signal": {b"chest": {k.encode(): v for k, v in obj["signal"]["chest"].items()}},
        b"label": obj["label"],
        b"subject": b"S2",
    }
    rec = load_wesad_subject(
        write(tmp_path / "S2.pkl", pickle.dumps(obj, protocol=4)), ["chest.Resp"]
    )
    assert rec.subject == "S2" and rec.labels.dtype == np.int8
    assert set(np.unique(rec.labels)) == {0, 1, 2}


def test_modality_names_are_validated(tmp_path):
    path = write_subject(tmp_path, make_subject(1.0))
    with pytest.raises(ConfigError, match="unknown modality 'chest.BVP'"):
        load_wesad_subject(path, ["chest.BVP"])
    with pytest.raises(ConfigError):
        load_wesad_subject(path, [])


def _broken(tmp_path, mutate, name="S3"):
    obj = make_subject(4.0, name)
    mutate(obj)
    return write(tmp_path / name / f"{name}.pkl", pickle.dumps(obj, protocol=2))


@pytest.mark.parametrize(
    "mutate, modalities, message",
    [
        (
            lambda o: o["signal"]["chest"].pop("ECG"),
            ["chest.ECG"],
            r"S3\.pkl \(subject S3\): missing key signal/chest/ECG \(present: ACC, EMG",
        ),
        (lambda o: o.pop("label"), ["chest.ECG"], r"S3\.pkl \(subject S3\): missing key label$"),
        (lambda o: o.pop("signal"), ["chest.ECG"], r"\(subject S3\): missing key signal$"),
        (
            lambda o: o["signal"].pop("chest"),
            ["chest.ECG"],
            r"\(subject S3\): missing key signal/chest \(present: signal/wrist\)",
        ),
        (
            lambda o: o["signal"]["chest"].__setitem__("ACC", np.zeros((2800, 2))),
            ["chest.ACC"],
            r"signal/chest/ACC has shape \(2800, 2\), expected \(n, 3\)",
        ),
        (
            lambda o: o["signal"]["chest"].__setitem__("ECG", np.zeros((2800, 3))),
            ["chest.ECG"],
            r"signal/chest/ECG has shape \(2800, 3\), expected \(n,\) or \(n, 1\)",
        ),
        (
            lambda o: o["signal"]["wrist"].__setitem__("ACC", np.zeros(128)),
            ["wrist.ACC"],
            r"signal/wrist/ACC has shape \(128,\), expected \(n, 3\)",
        ),
        (
            lambda o: o["signal"]["chest"].__setitem__("EDA", np.zeros((2799, 1))),
            ["chest.EDA"],
            r"signal/chest/EDA has 2799 samples but label has 2800",
        ),
        (
            lambda o: o["signal"]["wrist"].__setitem__("BVP", np.zeros((640, 1))),
            ["wrist.BVP"],
            r"signal/wrist/BVP lasts 10.0 s \(640 samples at 64 Hz\) but label lasts 4.0 s",
        ),
        (
            lambda o: o["signal"]["chest"].__setitem__("Temp", np.zeros((0, 1))),
            ["chest.Temp"],
            r"signal/chest/Temp is empty",
        ),
        (
            lambda o: o["signal"]["chest"].__setitem__("Temp", [1.0] * 2800),
            ["chest.Temp"],
            r"signal/chest/Temp is a list, expected a numeric numpy array",
        ),
        (
            lambda o: o["signal"]["chest"].__setitem__("Temp", np.array(["a"] * 2800)),
            ["chest.Temp"],
            r"signal/chest/Temp has dtype <U1, expected a numeric array",
        ),
        (
            lambda o: o.__setitem__("label", o["label"] + 0.5),
            ["chest.ECG"],
            r"label holds non-integer value 0.5 at sample 0",
        ),
        (
            lambda o: o["label"].__setitem__(100, 9),
            ["chest.ECG"],
            r"label holds code 9 outside 0..7",
        ),
        (lambda o: o["label"].__setitem__(100, -1), ["chest.ECG"], r"label holds code -1 outside"),
        (
            lambda o: o.__setitem__("label", np.zeros(0, dtype=np.int32)),
            ["chest.ECG"],
            r"label is empty",
        ),
        (
            lambda o: o.__setitem__("signal", [1, 2]),
            ["chest.ECG"],
            r"\(subject S3\): signal is a list, expected a dict",
        ),
    ],
)
def test_malformed_subject_files(tmp_path, mutate, modalities, message):
    path = _broken(tmp_path, mutate)
    with pytest.raises(DataError, match=message) as err:
        load_wesad_subject(path, modalities)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_top_level_must_be_a_dict(tmp_path):
    path = write(tmp_path / "S4.pkl", pickle.dumps([np.zeros(3)], protocol=2))
    with pytest.raises(DataError, match=r"S4\.pkl: top level is a list, expected"):
        load_wesad_subject(path, ["chest.ECG"])


def test_wesad_wrist_tolerance(tmp_path):
    # 100 s of labels: 2 s tolerance -> 101.5 s passes, 102.5 s fails
    def set_bvp(seconds):
        return lambda o: o["signal"]["wrist"].__setitem__("BVP", np.zeros((int(seconds * 64), 1)))

    obj = make_subject(100.0)
    path = write(tmp_path / "ok.pkl", pickle.dumps(obj, protocol=4))
    assert load_wesad_subject(path, ["wrist.BVP"]).signals["wrist.BVP"].data.shape == (6400, 1)
    set_bvp(101.5)(obj)
    load_wesad_subject(write(tmp_path / "ok2.pkl", pickle.dumps(obj, protocol=4)), ["wrist.BVP"])
    set_bvp(102.5)(obj)
    with pytest.raises(DataError, match="wrist/BVP lasts 102.5 s"):
        load_wesad_subject(
            write(tmp_path / "bad.pkl", pickle.dumps(obj, protocol=4)), ["wrist.BVP"]
        )


def test_wrist_only_file(tmp_path):
    path = write_subject(tmp_path, make_subject(8.0, "S5", chest=False), py2=True)
    rec = load_wesad_subject(path, ["wrist.EDA", "wrist.TEMP"])
    assert rec.signals["wrist.EDA"].data.shape == (32, 1)
    assert rec.signals["wrist.TEMP"].rate == 4.0
    with pytest.raises(
        DataError,
        match=r"S5\.pkl \(subject S5\): missing key signal/chest "
        r"\(present: signal/wrist\)",
    ):
        load_wesad_subject(path, ["wrist.EDA", "chest.ECG"])


# --------------------------------------------------------------------------------------------
# the real wrist recordings (S2, S3, S4), built into the published WESAD layout
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_wrist_root(tmp_path_factory):
    if not BUILD_WESAD.exists():
        pytest.skip(f"shared real data absent ({BUILD_WESAD})")
    out = tmp_path_factory.mktemp("wesad_wrist")
    subprocess.run(
        [sys.executable, str(BUILD_WESAD), str(out)], check=True, capture_output=True, timeout=600
    )
    return out


def test_real_wrist_subjects(real_wrist_root):
    found = find_wesad_subjects(real_wrist_root)
    assert list(found) == ["S2", "S3", "S4"]
    for name, path in found.items():
        rec = load_wesad_subject(path, ["wrist.BVP", "wrist.EDA", "wrist.ACC"], subject=name)
        assert rec.subject == name and rec.label_rate == 700.0
        label_seconds = len(rec.labels) / 700.0
        assert label_seconds > 60 * 60  # the WESAD protocol lasts well over an hour
        for m, (rate, channels) in {
            "wrist.BVP": (64.0, 1),
            "wrist.EDA": (4.0, 1),
            "wrist.ACC": (32.0, 3),
        }.items():
            sig = rec.signals[m]
            assert sig.rate == rate and sig.n_channels == channels
            assert sig.data.dtype == np.float32
            assert abs(sig.duration - label_seconds) < 1.0, (name, m)
        assert {1, 2, 3, 4} <= set(np.unique(rec.labels).tolist()) <= {0, 1, 2, 3, 4}
        eda = rec.signals["wrist.EDA"].data
        assert np.nanmedian(eda) > 0  # skin conductance in µS
        with pytest.raises(
            DataError,
            match=rf"{name}\.pkl \(subject {name}\): missing key "
            r"signal/chest \(present: signal/wrist\)",
        ):
            load_wesad_subject(path, ["chest.ECG"], subject=name)
    # a single subject folder as root (prediction on one subject)
    assert list(find_wesad_subjects(real_wrist_root / "S3")) == ["S3"]
