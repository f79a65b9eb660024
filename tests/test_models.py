"""Tests of xmodal.models: every model name through the same checks, plus the building blocks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xmodal.config import ModelConfig
from xmodal.errors import ConfigError, ShapeError
from xmodal.models import (
    Align,
    CrossModalConnection,
    CrossModalNet,
    EarlyFusionNet,
    ScoreFusionNet,
    XModalModel,
    alignment_matrix,
    build_model,
    connection_pairs,
    count_parameters,
    get_model,
    model_names,
    plan_stream,
)
from xmodal.models.blocks import SameConv1d, StreamEncoder, StridedStem, adapt_stem, stem_length

TINY = dict(widths=(4, 8, 8), kernels=(16, 8, 8), head_hidden=8)
SHAPES2 = {"chest.ECG": (1, 2560), "chest.EDA": (1, 160)}
SHAPES3 = {"chest.ECG": (1, 2560), "wrist.EDA": (1, 40), "wrist.ACC": (3, 320)}
SINGLE = {"chest.ECG": (1, 2560)}
MODEL_NAMES = [n for n in model_names() if get_model(n).is_network]
FUSION = [n for n in MODEL_NAMES if n != "single"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine OpenMP
    spinning makes them ~10x slower; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(name: str, **kw) -> ModelConfig:
    """One network (not the default seed ensemble) of tiny streams."""
    return ModelConfig(name=name, **{**TINY, "ensemble": 1, **kw})


def inputs(shapes, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, c, t, generator=g) for c, t in shapes.values())


def shapes_for(name: str, n: int):
    if name == "single":
        return SINGLE
    return SHAPES2 if n == 2 else SHAPES3


def build(name, shapes, n_outputs=3, **kw):
    torch.manual_seed(0)
    return build_model(tiny_config(name, **kw), shapes, n_outputs)


# --- every model ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape(name, n):
    shapes = shapes_for(name, n)
    model = build(name, shapes, n_outputs=4)
    assert isinstance(model, XModalModel)
    assert model.modalities == list(shapes)
    out = model(*inputs(shapes, batch=5))
    assert out.shape == (5, 4)
    assert torch.isfinite(out).all()
    logits, att = model.forward_with_attention(*inputs(shapes, batch=5))
    assert logits.shape == (5, 4)
    assert isinstance(att, dict)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_every_stream(name):
    shapes = shapes_for(name, 3)
    model = build(name, shapes)
    model.train()
    xs = inputs(shapes)
    y = torch.tensor([0, 1, 2, 1])
    for x in xs:
        x.requires_grad_(True)
    loss = model.compute_loss(xs, y, nn.CrossEntropyLoss())
    assert loss.dim() == 0
    loss.backward()
    for x in xs:
        assert x.grad.abs().sum() > 0
    for conv in first_convs(model):
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname


def first_convs(model):
    if isinstance(model, EarlyFusionNet):
        return [model.encoder.blocks[0].convs[0]]
    if isinstance(model, ScoreFusionNet):
        return [c for m in model.members for c in first_convs(m)]
    return [e.blocks[0].convs[0] for e in model.encoders]


def _zero_head_columns(model: CrossModalNet, modality: str) -> None:
    with torch.no_grad():
        model.head.layers[0].weight[:, model.feature_slices[modality]] = 0.0


@pytest.mark.parametrize(
    "name,expect_grad", [("attentive", True), ("cross", True), ("late-fusion", False)]
)
def test_source_stream_learns_through_connection_only(name, expect_grad):
    # a2b: chest.ECG (first) feeds chest.EDA. With ECG's head columns zeroed the only path
    # from the loss to the ECG stream is through the connections.
    model = build(name, SHAPES2, direction="a2b")
    _zero_head_columns(model, "chest.ECG")
    model.compute_loss(
        inputs(SHAPES2), torch.tensor([0, 1, 2, 1]), nn.CrossEntropyLoss()
    ).backward()
    grad = model.encoders[0].blocks[0].convs[0].weight.grad
    got = grad is not None and grad.abs().sum().item() > 0
    assert got == expect_grad


def test_b2a_source_stream_learns_through_connection():
    # b2a: chest.EDA (second) feeds chest.ECG; with EDA's head columns zeroed its stream still
    # gets gradient through the connections into ECG.
    model = build("attentive", SHAPES2, direction="b2a")
    _zero_head_columns(model, "chest.EDA")
    model.compute_loss(
        inputs(SHAPES2), torch.tensor([0, 1, 2, 1]), nn.CrossEntropyLoss()
    ).backward()
    assert model.encoders[1].blocks[0].convs[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "direction,n,per_block",
    [("both", 2, 2), ("a2b", 2, 1), ("b2a", 2, 1), ("both", 3, 6), ("a2b", 3, 2), ("b2a", 3, 2)],
)
def test_attention_count_and_range(direction, n, per_block):
    shapes = shapes_for("attentive", n)
    model = build("attentive", shapes, direction=direction, connections=(1, 3)).eval()
    xs = inputs(shapes)
    with torch.no_grad():
        _, att = model.forward_with_attention(*xs)
    assert len(att) == 2 * per_block
    names = list(shapes)
    for key, a in att.items():
        pair, block = key.split("@")
        src, tgt = pair.split("->")
        assert src in names and tgt in names and src != tgt and block in ("1", "3")
        if direction == "a2b":
            assert src == names[0]
        if direction == "b2a":
            assert tgt == names[0]
        enc = model.encoders[names.index(tgt)]
        assert a.shape == (4, enc.out_channels[int(block) - 1], enc.out_lengths[int(block) - 1])
        assert a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize("name", ["cross", "late-fusion", "single", "early-fusion", "score-fusion"])
def test_no_attention_without_attentive_connections(name):
    shapes = shapes_for(name, 2)
    model = build(name, shapes).eval()
    _, att = model.forward_with_attention(*inputs(shapes))
    assert att == {}


def test_softmax_gate_sums_to_one_over_channels():
    model = build("attentive", SHAPES3, gate="softmax").eval()
    with torch.no_grad():
        _, att = model.forward_with_attention(*inputs(SHAPES3))
    assert len(att) == 18
    for a in att.values():
        torch.testing.assert_close(a.sum(dim=1), torch.ones(a.shape[0], a.shape[2]))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shape_errors_name_the_modality(name):
    shapes = shapes_for(name, 2)
    model = build(name, shapes).eval()
    xs = list(inputs(shapes, batch=2))
    last = list(shapes)[-1]
    c, t = shapes[last]
    bad_len = xs[:-1] + [torch.randn(2, c, t + 1)]
    bad_ch = xs[:-1] + [torch.randn(2, c + 1, t)]
    flat = xs[:-1] + [torch.randn(2, t)]
    for bad in (bad_len, bad_ch, flat):
        with pytest.raises(ShapeError, match=last.replace(".", r"\.")):
            model(*bad)
    with pytest.raises(ShapeError, match=r"expected \d input"):
        model(*xs, xs[0])
    if len(xs) > 1:
        with pytest.raises(ShapeError, match="input"):
            model(*xs[:-1])
    with pytest.raises(ShapeError, match=rf"\(batch, {c}, {t}\)"):
        model(*bad_len)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_very_short_inputs(name):
    shapes = (
        {"wrist.EDA": (1, 8)}
        if name == "single"
        else {"wrist.EDA": (1, 8), "wrist.TEMP": (1, 5), "wrist.BVP": (1, 640)}
    )
    model = build(name, shapes)
    model.train()
    xs = inputs(shapes, batch=2)
    loss = model.compute_loss(xs, torch.tensor([0, 2]), nn.CrossEntropyLoss())
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    assert model(*inputs(shapes, batch=1)).shape == (1, 3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_eval_determinism(name):
    shapes = shapes_for(name, 3)
    model = build(name, shapes).eval()
    xs = inputs(shapes)
    with torch.no_grad():
        torch.testing.assert_close(model(*xs), model(*xs), rtol=0, atol=0)
    # a sample's output does not depend on the rest of the batch in eval mode
    with torch.no_grad():
        torch.testing.assert_close(
            model(*(x[:1] for x in xs)), model(*xs)[:1], rtol=1e-5, atol=1e-5
        )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("error::torch.jit.TracerWarning")
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_trace_matches_eager(name):
    shapes = shapes_for(name, 2)
    model = build(name, shapes).eval()
    xs = inputs(shapes, batch=3)
    with torch.no_grad():
        traced = torch.jit.trace(model, xs, check_trace=False)
        torch.testing.assert_close(traced(*xs), model(*xs), rtol=0, atol=1e-5)
        other = inputs(shapes, batch=7, seed=1)  # another batch size
        torch.testing.assert_close(traced(*other), model(*other), rtol=0, atol=1e-5)


# --- registry and configuration -------------------------------------------------------------


def test_registry_maps_names():
    assert build("attentive", SHAPES2).attention is True
    assert build("cross", SHAPES2).attention is False
    late = build("late-fusion", SHAPES2)
    assert isinstance(late, CrossModalNet) and all(len(c) == 0 for c in late.connections)
    assert isinstance(build("single", SINGLE), CrossModalNet)
    assert isinstance(build("early-fusion", SHAPES2), EarlyFusionNet)
    assert isinstance(build("score-fusion", SHAPES2), ScoreFusionNet)
    assert count_parameters(build("attentive", SHAPES2)) > count_parameters(
        build("late-fusion", SHAPES2)
    )


def test_config_errors():
    with pytest.raises(ConfigError, match="exactly one modality"):
        build("single", SHAPES2)
    with pytest.raises(ConfigError, match="at least two"):
        build("attentive", SINGLE)
    with pytest.raises(ConfigError, match="direction"):
        build("attentive", SHAPES2, direction="sideways")
    with pytest.raises(ConfigError, match="direction"):
        CrossModalNet(SHAPES2, 3, direction="up", **TINY)
    with pytest.raises(ConfigError, match="gate"):
        build("attentive", SHAPES2, gate="tanh")
    with pytest.raises(ConfigError, match="block"):
        build("attentive", SHAPES2, connections=(4,))
    with pytest.raises(ConfigError, match="connection"):
        build("attentive", SHAPES2, connections=())
    with pytest.raises(ConfigError, match="n_outputs"):
        build("attentive", SHAPES2, n_outputs=1)
    with pytest.raises(ConfigError, match="chest.EDA"):
        build("attentive", {"chest.ECG": (1, 2560), "chest.EDA": (0, 160)})
    with pytest.raises(ConfigError, match="chest.EDA"):
        CrossModalNet({"chest.ECG": (1, 2560), "chest.EDA": (1, -3)}, 2, **TINY)
    with pytest.raises(ConfigError):
        EarlyFusionNet(SHAPES2, 2, common_length=0, **TINY)


def test_paper_preset_builds():
    cfg = dataclasses.replace(tiny_config("attentive"), preset="paper", widths=(), kernels=())
    model = build_model(cfg, SHAPES3, 3).eval()
    assert [e.out_channels for e in model.encoders][0] == (32, 64, 128)
    with torch.no_grad():
        assert model(*inputs(SHAPES3, batch=1)).shape == (1, 3)


def test_score_fusion_averages_member_probabilities():
    model = build("score-fusion", SHAPES2).eval()
    xs = inputs(SHAPES2)
    with torch.no_grad():
        out = model(*xs)
        probs = torch.stack([m(x).softmax(-1) for m, x in zip(model.members, xs)]).mean(0)
    torch.testing.assert_close(out.softmax(-1), probs)
    torch.testing.assert_close(out.exp(), probs)
    crit = nn.CrossEntropyLoss()
    y = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        expected = sum(crit(m(x), y) for m, x in zip(model.members, xs))
        torch.testing.assert_close(model.compute_loss(xs, y, crit), expected)


# --- building blocks ------------------------------------------------------------------------


def test_plan_stream_adapts_to_length():
    long = plan_stream(2560, (16, 32, 64), (16, 8, 8), 8, 4)
    assert [(p.kernel, p.pool_size, p.pool_stride) for p in long] == [
        (16, 8, 4),
        (8, 8, 4),
        (8, 8, 4),
    ]
    assert [p.out_length for p in long] == [639, 158, 38]
    for n in (1, 2, 3, 5, 8, 13, 40, 160):
        plans = plan_stream(n, (4, 8, 8, 8), (32, 16, 8, 8), 8, 4)
        for p in plans:
            assert p.out_length >= min(p.in_length, 2)
            assert p.out_length <= p.in_length
            assert 1 <= p.kernel <= max(3, p.in_length // 2)
            if p.pooled:
                assert (p.in_length - p.pool_size) // p.pool_stride + 1 == p.out_length
            else:
                assert p.out_length == p.in_length
        assert all(a.out_length == b.in_length for a, b in zip(plans, plans[1:]))
    eda = plan_stream(40, (16, 32, 64), (16, 8, 8), 8, 4)
    assert [p.out_length for p in eda] == [9, 2, 2]
    assert eda[2].pooled is False


def test_stream_encoder_reports_lengths():
    enc = StreamEncoder(
        3, 320, (4, 8, 8), (16, 8, 8), 8, 4, convs_per_block=1, batch_norm=False
    ).eval()
    assert len(enc.blocks) == 3 and enc.out_channels == (4, 8, 8)
    y = enc(torch.randn(2, 3, 320))
    assert y.shape == (2, 8, enc.out_lengths[-1])
    h = torch.randn(2, 3, 320)
    for block, c, n in zip(enc.blocks, enc.out_channels, enc.out_lengths):
        h = block(h)
        assert h.shape == (2, c, n)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8, 16])
def test_same_conv_matches_torch_same_padding(k):
    torch.manual_seed(0)
    ours = SameConv1d(2, 3, k)
    ref = nn.Conv1d(2, 3, k, padding="same")
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 2, 11)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize(
    "src,tgt", [(5, 5), (7, 20), (20, 7), (639, 39), (39, 639), (9, 2), (2, 9), (1, 4), (4, 1)]
)
def test_alignment_matches_interpolate_and_adaptive_pool(src, tgt):
    x = torch.randn(2, 3, src)
    expected = (
        F.interpolate(x, size=tgt, mode="linear", align_corners=False)
        if tgt >= src
        else F.adaptive_avg_pool1d(x, tgt)
    )
    torch.testing.assert_close(Align(src, tgt)(x), expected)
    torch.testing.assert_close(alignment_matrix(src, tgt).sum(0), torch.ones(tgt))


def test_connection_alone():
    torch.manual_seed(0)
    conn = CrossModalConnection(4, 6, attention=True, gate="sigmoid")
    h_i = torch.randn(3, 4, 10)
    h_j = torch.randn(3, 6, 37, requires_grad=True)
    new, a = conn(h_i, h_j)
    assert new.shape == h_i.shape and a.shape == h_i.shape
    assert a.min() >= 0 and a.max() <= 1
    new.sum().backward()
    assert h_j.grad.abs().sum() > 0
    # the fixed-buffer alignment gives the same result as the run-time one
    fixed = CrossModalConnection(4, 6, source_length=37, target_length=10)
    fixed.load_state_dict(conn.state_dict())
    conn.eval(), fixed.eval()
    with torch.no_grad():
        torch.testing.assert_close(fixed(h_i, h_j)[0], conn(h_i, h_j)[0])
    plain = CrossModalConnection(4, 6, attention=False)
    new, a = plain(h_i, h_j)
    assert a is None and new.shape == h_i.shape
    with pytest.raises(ValueError, match="gate"):
        CrossModalConnection(4, 6, gate="relu")


def test_connections_see_pre_connection_maps():
    # with both directions, the update of stream 0 must not depend on the order the
    # connections are applied in: recompute by hand from the block outputs.
    model = build("attentive", SHAPES2, connections=(1,)).eval()
    xs = inputs(SHAPES2)
    with torch.no_grad():
        h = [enc.blocks[0](enc.stem(x)) for enc, x in zip(model.encoders, xs)]
        c_10, c_01 = model.connections[0]  # EDA->ECG, ECG->EDA
        assert model.connection_index[0] == [(1, 0), (0, 1)]
        h0 = c_10(h[0], h[1])[0]
        h1 = c_01(h[1], h[0])[0]
        for b in (1, 2):
            h0, h1 = model.encoders[0].blocks[b](h0), model.encoders[1].blocks[b](h1)
        feats = torch.cat([h0.mean(-1), h1.mean(-1)], 1)
        torch.testing.assert_close(model.embedding(*xs), feats)
        torch.testing.assert_close(model(*xs), model.head(feats))


def test_connection_pairs():
    assert connection_pairs(3, "both") == [(1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2)]
    assert connection_pairs(3, "a2b") == [(0, 1), (0, 2)]
    assert connection_pairs(3, "b2a") == [(1, 0), (2, 0)]
    assert connection_pairs(1, "both") == []


def test_example_inputs_and_state_dict_roundtrip():
    model = build("attentive", SHAPES2).eval()
    xs = model.example_inputs(2)
    assert [tuple(x.shape) for x in xs] == [(2, 1, 2560), (2, 1, 160)]
    other = build("attentive", SHAPES2)
    other.load_state_dict(model.state_dict())
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(*xs), model(*xs))
    assert not any("matrix" in k for k in model.state_dict())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["attentive"])
def test_torch_export_dynamic_batch(name):
    # the path torch.onnx (dynamo) export takes: no data-dependent control flow, dynamic batch
    from torch.export import Dim, export

    model = build(name, SHAPES2).eval()
    xs = model.example_inputs(2)
    batch = Dim("batch", min=1, max=1024)
    program = export(model, xs, dynamic_shapes=(tuple({0: batch} for _ in xs),))
    other = inputs(SHAPES2, batch=5)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(*other), model(*other), rtol=0, atol=1e-5)


@pytest.mark.parametrize("length", [2560, 2561, 2563, 640, 257])
def test_strided_stem_output_length(length):
    stem = StridedStem(1, 4, 4).eval()
    assert stem(torch.randn(2, 1, length)).shape == (2, 4, stem_length(length, 4))
    assert stem_length(length, 4) == -(-length // 4)


def test_stem_adapts_to_stream_length():
    # 10-s windows: 256-Hz ECG keeps stride 8 (320 steps), 64-Hz BVP halves it to 4 (160
    # steps; 80 would be below the floor of 128), 16-Hz chest and 4-Hz wrist EDA get no stem
    assert adapt_stem(2560, 8) == 8
    assert adapt_stem(640, 8) == 4
    assert adapt_stem(160, 8) == 1
    assert adapt_stem(40, 8) == 1
    assert adapt_stem(2560, 4) == 4
    assert adapt_stem(2560, 1) == 1
    assert adapt_stem(160, 4, min_output=64) == 2
    enc = StreamEncoder(1, 2560, (8, 16), (8, 8), 4, 4, stem_stride=4)
    assert isinstance(enc.stem, StridedStem) and enc.plans[0].in_length == 640
    assert enc(torch.randn(2, 1, 2560)).shape == (2, 16, enc.out_lengths[-1])
    short = StreamEncoder(1, 40, (8, 16), (8, 8), 4, 4, stem_stride=4)
    assert isinstance(short.stem, nn.Identity) and short.plans[0].in_length == 40
    with pytest.raises(ConfigError, match="stem_stride"):
        ModelConfig(stem_stride=-1).resolved()
