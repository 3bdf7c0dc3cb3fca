import os

import pytest
import torch

from cosam_reid import cli
from cosam_reid.config import default_config
from cosam_reid.engine.checkpoint import (
    SPEC_FIELDS_ADDED,
    atomic_save,
    export_weights,
    load_model_weights,
    model_from_checkpoint,
    read_checkpoint,
    spec_payload,
)
from cosam_reid.evaluation import evaluate_checkpoint
from cosam_reid.models import build_model
from dataset_fixtures import make_mars
from reid_testing import random_clips, save_model, tiny_model


def tiny(backbone="resnet18", **options):
    options.setdefault("cosam_blocks", (5,))
    return tiny_model(backbone, num_classes=3, **options)


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"step": 1}, path)
    with pytest.raises(Exception):
        atomic_save({"step": 2, "unpicklable": lambda: None}, path)
    assert torch.load(path) == {"step": 1}
    assert os.listdir(tmp_path) == ["checkpoint.pt"]
    atomic_save({"step": 3}, path)
    assert torch.load(path) == {"step": 3}


def test_model_round_trip(tmp_path):
    torch.manual_seed(0)
    model = tiny(temporal_pooling="attention").eval()
    save_model(model, tmp_path / "m.pt")
    restored = model_from_checkpoint(tmp_path / "m.pt").eval()
    assert restored.spec == model.spec
    clips = random_clips()
    with torch.no_grad():
        assert torch.equal(restored(clips), model(clips))


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    save_model(tiny(), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"architecture:\n  backbone: 'resnet18' in the checkpoint, 'resnet34' in"):
        load_model_weights(tiny("resnet34"), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"cosam_blocks: \(5,\) in the checkpoint, \(4, 5\) in the model"):
        load_model_weights(tiny(cosam_blocks=(4, 5)), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"input_size: \(64, 32\) in the checkpoint, \(128, 64\)"):
        load_model_weights(build_model("resnet18", num_classes=3, num_frames=4, input_size=(128, 64),
                                       cosam_blocks=(5,)), tmp_path / "m.pt")
    load_model_weights(tiny(), tmp_path / "m.pt")


def test_the_cosam_options_are_checked_but_the_implementation_may_differ(tmp_path):
    save_model(tiny(summary_head="paper", reduced_channels=16), tmp_path / "m.pt")
    assert model_from_checkpoint(tmp_path / "m.pt").cosam["block5"].summary_head == "paper"
    with pytest.raises(ValueError, match=r"summary_head: 'paper' in the checkpoint, 'authors' in the model"):
        load_model_weights(tiny(reduced_channels=16), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"reduced_channels: 16 in the checkpoint, None in the model"):
        load_model_weights(tiny(summary_head="paper"), tmp_path / "m.pt")
    # Both implementations compute from the same parameters.
    load_model_weights(tiny(summary_head="paper", reduced_channels=16, implementation="reference"), tmp_path / "m.pt")


def test_a_checkpoint_from_before_a_spec_field_loads_as_it_was_built(tmp_path):
    model = tiny(attention="both")
    payload = spec_payload(model.spec)
    for field in SPEC_FIELDS_ADDED:
        del payload[field]
    torch.save({"model_spec": payload, "model": model.state_dict()}, tmp_path / "old.pt")
    restored = model_from_checkpoint(tmp_path / "old.pt")
    assert restored.spec == model.spec
    layer = restored.cosam["block5"]
    assert (layer.attention, layer.summary_head, layer.implementation) == ("both", "authors", "fused")


def test_not_a_checkpoint(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="weights.pt is not a cosam_reid checkpoint"):
        read_checkpoint(tmp_path / "weights.pt")
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*missing.pt"):
        read_checkpoint(tmp_path / "missing.pt")
    # Unpickling text fails wherever its bytes lead: "hello" ends in a memo lookup of "e" (101).
    (tmp_path / "notes.txt").write_text("hello, these are notes\n")
    with pytest.raises(ValueError, match=r"cannot load the checkpoint .*notes.txt: not a file torch.save wrote, "
                                         r"or a damaged one \(KeyError: 101\)$"):
        read_checkpoint(tmp_path / "notes.txt")


def training_checkpoint(model, path):
    """A checkpoint as training writes it: the model and what a resume needs."""
    optimizer = torch.optim.Adam(model.parameters())
    model(random_clips()).logits.sum().backward()
    optimizer.step()
    torch.save({"format": 1, "model_spec": spec_payload(model.spec), "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "progress": {"epoch": 1},
                "config": {"evaluation": {"sampling": "dense"}}}, path)
    return path


def test_the_weights_of_a_checkpoint_evaluate_as_it_does(tmp_path, capsys):
    torch.manual_seed(0)
    checkpoint = training_checkpoint(tiny(), tmp_path / "checkpoint.pt")
    status = cli.main(["weights", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "weights.pt")])
    assert status == 0
    assert f"written to {tmp_path / 'weights.pt'}" in capsys.readouterr().out
    weights = torch.load(tmp_path / "weights.pt")
    # The run's config goes along (extract samples as it says); the optimizer state does not.
    assert weights.keys() == {"model_spec", "model", "config"}
    assert os.path.getsize(tmp_path / "weights.pt") < os.path.getsize(checkpoint) / 2  # Adam keeps two moments
    make_mars(tmp_path)
    evaluation = default_config().evaluation
    from_weights, from_checkpoint = (evaluate_checkpoint(str(path), evaluation, str(tmp_path))
                                     for path in (tmp_path / "weights.pt", checkpoint))
    assert (from_weights.mAP, from_weights.cmc) == (from_checkpoint.mAP, from_checkpoint.cmc)
    load_model_weights(tiny(), tmp_path / "weights.pt")


def test_weights_never_replace_their_checkpoint(tmp_path):
    checkpoint = save_model(tiny(), tmp_path / "checkpoint.pt")
    written = os.path.getmtime(checkpoint)
    with pytest.raises(ValueError, match="the weights would overwrite the checkpoint .*checkpoint.pt"):
        export_weights(str(checkpoint), str(tmp_path / "." / "checkpoint.pt"))
    assert os.path.getmtime(checkpoint) == written
