"""profile_layer.py on a tiny shape: a check of the tool, not a measurement."""
import pytest

import cases
import profile_layer


def test_every_op_of_a_step_lands_in_one_row():
    case = cases.SMOKE_LAYER_CASES[0]
    layer = cases.make_layer_module(case, "layer_fused", "cpu")
    rows, step_ms = profile_layer.where_rows(layer, case, profile_layer.SMOKE)
    assert sum(ms for ms, _, _ in rows) == pytest.approx(step_ms)
    names = {row for _, row, _ in rows}
    modules = {
        f"{part} {kind} {direction}"
        for part in ("reduction", "summary head")
        for kind in ("conv", "BN", "ReLU")
        for direction in ("forward", "backward")
    }
    assert modules <= names
    assert any(name.startswith("cosam::") for name in names)


def test_writes_the_tables(tmp_path, capsys):
    path = tmp_path / "profile.md"
    profile_layer.main(["--smoke", "--markdown", str(path)])
    text = path.read_text()
    assert text == capsys.readouterr().out
    assert "load average (1, 5, 15 min) at the start" in text
    assert "## The floor" in text


def test_must_run_takes_the_ncc_gemms_the_summary_head_and_the_gradient_sum():
    rows = [
        (5.0, "cosam::ncc_summary", {"aten::bmm": 3.0, "aten::add": 1.0, "cosam::ncc_summary": 1.0}),
        (4.0, "cosam::ncc_summary_backward", {"aten::bmm": 2.0, "aten::baddbmm_": 1.5, "aten::copy_": 0.5}),
        (2.0, "summary head conv forward", {"aten::mkldnn_convolution": 2.0}),
        (1.0, "summary head BN backward", {"aten::native_batch_norm_backward": 1.0}),
        (1.5, profile_layer.GRADIENT_SUMS, {"aten::add_": 1.2, "torch::autograd::AccumulateGrad": 0.3}),
        (9.0, "reduction conv backward", {"aten::convolution_backward": 9.0}),
        (0.7, "cosam::channel_attention backward, outside cosam ops", {"aten::mm": 0.7}),
    ]
    must = profile_layer.must_run(rows)
    assert must.gemm_seconds == pytest.approx(6.5e-3)
    assert must.head_seconds == pytest.approx(3e-3)
    assert must.gradient_sum_seconds == pytest.approx(1.2e-3)
    # In the materialised order ncc_summary's rows hold no GEMMs of its own algebra.
    assert profile_layer.must_run(rows, "materialised").gemm_seconds is None
