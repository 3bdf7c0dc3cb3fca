"""Deployment paths of CosamLayer on the CPU: ONNX through the torch.export-based
exporter (dynamo=True) and the TorchScript-based one, torch.export,
torch.jit.trace and torch.jit.script, torch.fx.symbolic_trace, deepcopy and
pickle. (torch.compile: tests/test_layer.py.)"""
import copy
import io
import math
import pickle
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from cosam_ext import CosamLayer, ops
from testing import randomise_batch_norms

#: Channels, reduced channels and the map of the layers below. At 10x8 the
#: authors' head (K = 64) takes the fused ncc_summary order for N = 2 and 8;
#: at 2x3 it takes the materialised one.
CHANNELS, REDUCED = 24, 16
FUSED_MAP, MATERIALISED_MAP = (10, 8), (2, 3)
#: What "matches eager" means for float32 outputs of magnitude about 1.
ATOL = RTOL = 1e-4

ATTENTION_HEADS = [
    ("both", "authors"), ("both", "paper"), ("spatial", "authors"), ("spatial", "paper"), ("channel", "authors"),
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def make_layer(num_frames, spatial_size=FUSED_MAP, **kwargs):
    """An eval-mode float32 layer with random BN statistics."""
    layer = CosamLayer(CHANNELS, num_frames, spatial_size, reduced_channels=REDUCED, **kwargs)
    return randomise_batch_norms(layer).eval()


def make_input(layer, clips, rank):
    """(B*N, C, H, W) for rank 4, (B, N, C, H, W) for rank 5."""
    shape = (clips, layer.num_frames, layer.in_channels, *layer.spatial_size)
    x = torch.randn(shape)
    return x if rank == 5 else x.flatten(0, 1)


def batch_dim(layer, rank):
    """The dynamic batch axis: clips B for a 5-D input, B*N rows (a multiple of N) for a 4-D one."""
    clips = torch.export.Dim("clips", min=1, max=64)
    return {0: clips if rank == 5 else layer.num_frames * clips}


def export_onnx(module, x, dynamic_shapes):
    """The plain call a user makes: no context, no table."""
    program = torch.onnx.export(module, (x,), dynamo=True, dynamic_shapes=(dynamic_shapes,), verbose=False)
    return program.model_proto


def test_export_leaves_torch_global_tables_alone():
    # torch.compile must never see a decomposition of the cosam ops (inductor
    # refuses a fallback for an op that has one, in CI): export adds none.
    table = torch._decomp.decomposition_table
    layer = make_layer(2)
    export_onnx(layer, make_input(layer, 2, 4), batch_dim(layer, 4))
    assert not any(op in table for op in ops.decompositions())


def run_onnx(model_proto, x):
    session = onnxruntime.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(None, {name: x.numpy()})


def non_standard_domains(model_proto):
    """Domains other than the default ONNX one, of nodes, functions and opset imports."""
    nodes = [*model_proto.graph.node, *(n for f in model_proto.functions for n in f.node)]
    domains = {n.domain for n in nodes} | {o.domain for o in model_proto.opset_import}
    return domains - {"", "ai.onnx"}


def volume_tensors(model_proto, num_frames, spatial_size):
    """Names of the graph's tensors shaped like the materialised cost volume:
    (N-1)*P channels against P positions, besides the symbolic batch axis."""
    positions = math.prod(spatial_size)
    volume_channels = (num_frames - 1) * positions
    inferred = onnx.shape_inference.infer_shapes(model_proto)
    found = []
    for value in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if volume_channels in dims and math.prod(dims) == volume_channels * positions:
            found.append(value.name)
    return found


def assert_onnx_matches_eager(model_proto, module, inputs):
    for x in inputs:
        with torch.no_grad():
            expected = module(x)
        (actual,) = run_onnx(model_proto, x)
        assert actual.shape == tuple(expected.shape)
        np.testing.assert_allclose(actual, expected.numpy(), rtol=RTOL, atol=ATOL)


# --- ONNX, torch.export-based exporter ------------------------------------


@pytest.mark.parametrize("attention, summary_head", ATTENTION_HEADS)
@pytest.mark.parametrize("num_frames, rank", [(2, 4), (8, 5)], ids=["N2-4D", "N8-5D"])
def test_onnx_dynamo_standard_ops_dynamic_batch(attention, summary_head, num_frames, rank):
    layer = make_layer(num_frames, attention=attention, summary_head=summary_head)
    model_proto = export_onnx(layer, make_input(layer, 2, rank), batch_dim(layer, rank))
    assert not non_standard_domains(model_proto)
    assert_onnx_matches_eager(model_proto, layer, [make_input(layer, 1, rank), make_input(layer, 3, rank)])


@pytest.mark.parametrize("num_frames, rank", [(2, 5), (8, 4)], ids=["N2-5D", "N8-4D"])
def test_onnx_dynamo_fused_order_has_no_cost_volume(num_frames, rank):
    layer = make_layer(num_frames)
    x = make_input(layer, 2, rank)
    reduced = torch.empty(2 * num_frames, REDUCED, *FUSED_MAP)
    assert not ops.materialising_is_cheaper(reduced, 64, num_frames)
    model_proto = export_onnx(layer, x, batch_dim(layer, rank))
    assert not non_standard_domains(model_proto)
    assert volume_tensors(model_proto, num_frames, layer.spatial_size) == []
    assert_onnx_matches_eager(model_proto, layer, [make_input(layer, 1, rank), make_input(layer, 4, rank)])


def test_onnx_dynamo_materialised_order_where_the_cpu_takes_it():
    layer = make_layer(4, MATERIALISED_MAP)
    x = make_input(layer, 2, 4)
    assert ops.materialising_is_cheaper(torch.empty(8, REDUCED, *MATERIALISED_MAP), 64, 4)
    model_proto = export_onnx(layer, x, batch_dim(layer, 4))
    assert not non_standard_domains(model_proto)
    assert volume_tensors(model_proto, 4, MATERIALISED_MAP)
    assert_onnx_matches_eager(model_proto, layer, [make_input(layer, 1, 4), make_input(layer, 3, 4)])


def test_onnx_dynamo_of_an_exported_program():
    # A graph that torch.export made first keeps the cosam ops; the table
    # turns them into standard ops before it goes to ONNX.
    layer = make_layer(2)
    x = make_input(layer, 2, 5)
    exported = torch.export.export(layer, (x,), dynamic_shapes=(batch_dim(layer, 5),))
    decomposed = exported.run_decompositions(ops.decompositions())
    model_proto = torch.onnx.export(decomposed, dynamo=True, verbose=False).model_proto
    assert not non_standard_domains(model_proto)
    assert_onnx_matches_eager(model_proto, layer, [make_input(layer, 1, 5), make_input(layer, 3, 5)])


# --- ONNX, TorchScript-based exporter -------------------------------------


@pytest.mark.parametrize(
    "attention, spatial_size",
    [("both", FUSED_MAP), ("both", MATERIALISED_MAP), ("spatial", FUSED_MAP), ("channel", FUSED_MAP)],
    ids=["both-fused", "both-materialised", "spatial-fused", "channel"],
)
def test_onnx_torchscript_exporter(attention, spatial_size):
    layer = make_layer(4, spatial_size, attention=attention)
    buffer = io.BytesIO()
    with pytest.warns(DeprecationWarning):  # the TorchScript-based exporter's own
        torch.onnx.export(
            layer, (make_input(layer, 2, 5),), buffer, dynamo=False,
            input_names=["clips"], dynamic_axes={"clips": {0: "batch"}},
        )
    model_proto = onnx.load_from_string(buffer.getvalue())
    assert not non_standard_domains(model_proto)
    assert_onnx_matches_eager(model_proto, layer, [make_input(layer, 1, 5), make_input(layer, 3, 5)])


# --- torch.export, TorchScript --------------------------------------------


@pytest.mark.parametrize("rank", [4, 5])
def test_torch_export_dynamic_batch_keeps_the_cosam_ops(rank):
    layer = make_layer(4)
    exported = torch.export.export(layer, (make_input(layer, 2, rank),), dynamic_shapes=(batch_dim(layer, rank),))
    targets = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert {"cosam.ncc_summary.default", "cosam.channel_attention.default"} <= targets
    # With B*N rows as the dynamic axis, torch.export specialises the clip
    # count B = rows / N to B >= 2; a (B, N, ...) input keeps B = 1.
    for clips in (1, 3) if rank == 5 else (2, 3):
        x = make_input(layer, clips, rank)
        torch.testing.assert_close(exported.module()(x), layer(x), rtol=0, atol=0)


def test_decomposition_table_removes_the_cosam_ops_from_an_exported_program():
    layer = make_layer(4)
    x = make_input(layer, 2, 5)
    decomposed = torch.export.export(layer, (x,)).run_decompositions(ops.decompositions())
    targets = [str(node.target) for node in decomposed.graph.nodes if node.op == "call_function"]
    assert targets and not [target for target in targets if target.startswith("cosam.")]
    torch.testing.assert_close(decomposed.module()(x), layer(x), rtol=RTOL, atol=ATOL)


def test_jit_trace():
    layer = make_layer(4)
    x = make_input(layer, 2, 5)
    traced = torch.jit.trace(layer, (x,))
    torch.testing.assert_close(traced(x), layer(x), rtol=0, atol=0)


def test_jit_script_names_what_to_use_instead():
    with pytest.raises(RuntimeError, match=r"torch\.export\.export.*torch\.jit\.trace"):
        torch.jit.script(make_layer(4))
    with pytest.raises(RuntimeError, match="CosamLayer cannot be compiled by torch.jit.script"):
        torch.jit.script(nn.Sequential(nn.Identity(), make_layer(4)))


# --- torch.fx ---------------------------------------------------------------


@pytest.mark.parametrize("implementation", ["fused", "reference"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_fx_symbolic_trace_matches_eager(training, implementation):
    layer = make_layer(4, implementation=implementation).train(training)
    traced = torch.fx.symbolic_trace(layer)
    for rank in (4, 5):  # one trace serves both layouts
        x = make_input(layer, 2, rank)
        torch.testing.assert_close(traced(x), layer(x), rtol=0, atol=0)
    if implementation == "fused":
        called = {node.target.__name__ for node in traced.graph.nodes if node.op == "call_function"}
        assert {"ncc_summary", "channel_attention"} <= called  # run-time dispatch, not a traced order


def test_fx_symbolic_trace_of_a_model_containing_the_layer():
    layer = make_layer(4)
    model = nn.Sequential(nn.Conv2d(CHANNELS, CHANNELS, 1), layer, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    traced = torch.fx.symbolic_trace(model)
    modules = {node.target for node in traced.graph.nodes if node.op == "call_module"}
    assert "1.dim_reduction.0" in modules  # the layer's submodules stay visible to FX tools
    x = make_input(layer, 2, 4)
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


def test_fx_symbolic_trace_with_masks():
    layer = make_layer(4)
    x = make_input(layer, 2, 5)
    traced = torch.fx.symbolic_trace(layer, concrete_args={"return_masks": True})
    for actual, expected in zip(traced(x, True), layer(x, return_masks=True)):
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    plain = torch.fx.symbolic_trace(layer)
    with pytest.raises(AssertionError, match="concrete_args"):
        plain(x, return_masks=True)


# --- copies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "copy_of", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"]
)
def test_copies(copy_of):
    layer = make_layer(4)
    x = make_input(layer, 2, 5)
    duplicate = copy_of(layer)
    assert duplicate is not layer
    torch.testing.assert_close(duplicate(x), layer(x), rtol=0, atol=0)


# --- the compositions the exporters get -----------------------------------


def ops_compositions():
    """The op modules' compositions, by op name."""
    return SimpleNamespace(**{op.name().split("::")[1]: fn for op, fn in ops.decompositions().items()})


@pytest.mark.parametrize(
    "clips, num_frames, channels, height, width, out_channels",
    [(2, 4, 16, 3, 2, 8), (1, 2, 5, 1, 1, 3), (3, 8, 9, 2, 3, 5)],
)
def test_compositions_match_the_compiled_ops(clips, num_frames, channels, height, width, out_channels):
    composition = ops_compositions()
    eps = 1e-3  # not the default: the compositions must pass it on
    x = torch.randn(clips * num_frames, channels, height, width, dtype=torch.float64)
    weight = torch.randn(out_channels, (num_frames - 1) * height * width, dtype=torch.float64)
    bias = torch.randn(out_channels, dtype=torch.float64)
    torch.testing.assert_close(
        composition.ncc_cost_volume(x, num_frames, eps), torch.ops.cosam.ncc_cost_volume(x, num_frames, eps)
    )
    for ours, compiled in zip(composition.ncc_summary(x, weight, bias, num_frames, eps),
                              torch.ops.cosam.ncc_summary(x, weight, bias, num_frames, eps)):
        torch.testing.assert_close(ours, compiled)
    spatial_mask = torch.rand(clips * num_frames, 1, height, width, dtype=torch.float64)
    channel_mask = torch.rand(clips, channels, dtype=torch.float64)
    torch.testing.assert_close(composition.masked_mean(x, spatial_mask), torch.ops.cosam.masked_mean(x, spatial_mask))
    torch.testing.assert_close(composition.apply_attention(x, spatial_mask, channel_mask, num_frames),
                               torch.ops.cosam.apply_attention(x, spatial_mask, channel_mask, num_frames))
    mlp = [torch.randn(4, channels, dtype=torch.float64), torch.randn(4, dtype=torch.float64),
           torch.randn(channels, 4, dtype=torch.float64), torch.randn(channels, dtype=torch.float64)]
    for mask in (spatial_mask, None):
        for ours, compiled in zip(composition.channel_attention(x, mask, *mlp, num_frames),
                                  torch.ops.cosam.channel_attention(x, mask, *mlp, num_frames)):
            torch.testing.assert_close(ours, compiled)
