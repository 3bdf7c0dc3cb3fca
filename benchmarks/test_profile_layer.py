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
