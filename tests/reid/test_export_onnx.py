"""ONNX export of a whole re-ID model (ResNet50 + COSAM_4,5, TP_avg) and the
`cosam-reid export` command."""
import onnx
import torch
from reid_testing import save_model, tiny_model

from cosam_reid import cli
from cosam_reid.deploy import compare_with_eager, export_onnx


def test_resnet50_cosam45_exports_in_standard_ops_with_a_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = tiny_model("resnet50", cosam_blocks=(4, 5), temporal_pooling="avg").train()
    path = export_onnx(model, tmp_path / "model.onnx")
    assert model.training  # the mode is given back
    proto = onnx.load(str(path))
    domains = {node.domain for node in proto.graph.node} | {o.domain for o in proto.opset_import}
    assert domains <= {"", "ai.onnx"}
    assert not proto.functions
    (clips_input,) = proto.graph.input
    assert clips_input.type.tensor_type.shape.dim[0].dim_param  # the clip count is symbolic
    differences = compare_with_eager(model, path, clip_counts=(1, 3))
    assert set(differences) == {1, 3}
    with torch.no_grad():
        scale = max(1.0, model.eval()(torch.randn(1, 4, 3, 64, 32)).abs().max().item())
    assert max(differences.values()) <= 1e-4 * scale, differences


def test_export_command_writes_a_checked_model(tmp_path, capsys):
    checkpoint = save_model(tiny_model(cosam_blocks=(4, 5)), tmp_path / "checkpoint.pt")
    output = tmp_path / "reid.onnx"
    assert cli.main(["export", "--checkpoint", str(checkpoint), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert output.exists() and "input 'clips' (B, 4, 3, 64, 32)" in printed
    for line in [line for line in printed.splitlines() if "largest difference" in line]:
        assert float(line.rsplit(" ", 1)[1]) < 1e-3
    assert printed.count("largest difference") == 2


def test_export_command_rejects_a_file_that_is_no_checkpoint(tmp_path, capsys):
    not_a_checkpoint = tmp_path / "weights.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, not_a_checkpoint)
    assert cli.main(["export", "--checkpoint", str(not_a_checkpoint), "--output", str(tmp_path / "x.onnx")]) == 2
    assert "not a cosam_reid checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
