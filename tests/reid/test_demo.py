"""`cosam-reid demo` end to end at a tiny setting, through cli.main."""
import re

import torch

from cosam_reid import cli
from cosam_reid.config import load_config
from cosam_reid.data.tracklets import VideoReIDDataset
from cosam_reid.demo import DEMO_CONFIG
from cosam_reid.engine import initial_model, train
from reid_testing import tiny_tracklets

# 8 identities (4 train, 4 test) of 3-5 frames of 32x16; batches of all 4
# training identities x 2 clips, so an epoch is one or two steps.
TINY_DEMO = [
    "data.dataset_options={num_identities: 8, num_cameras: 2, tracklet_length: [3, 5], image_size: [32, 16],"
    " num_distractors: 2, num_junk: 1}",
    "data.input_size=[64, 32]", "data.identities_per_batch=4", "data.instances_per_identity=2",
    "data.num_workers=0", "train.epochs=1",
]
METRIC_ROW = re.compile(r"^  (mAP|R1|R5|R10|R20|mINP) +(\d+\.\d\d)% +(\d+\.\d\d)%$", re.MULTILINE)


def test_demo_generates_trains_and_prints_both_results(tmp_path, capsys):
    root, output = tmp_path / "data", tmp_path / "runs" / "demo"
    status = cli.main(["demo", "--root", str(root), "--output", str(output), *TINY_DEMO])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert (root / "synthetic" / "synthetic.json").exists()
    assert (output / "checkpoint.pt").exists() and (output / "metrics.csv").exists()
    summary = out[out.index("COSAM demo: resnet18 + COSAM_4,5"):]
    assert "untrained" in summary and "trained" in summary
    rows = {name: (float(untrained), float(trained)) for name, untrained, trained in METRIC_ROW.findall(summary)}
    assert set(rows) == {"mAP", "R1", "R5", "R10", "R20", "mINP"}
    assert all(0 <= value <= 100 for pair in rows.values() for value in pair)
    for line in ("gallery: torchreid", "distance: squared Euclidean", "AP: non-interpolated AP",
                 "test sampling: dense: all frames in consecutive 4-frame clips"):
        assert line in summary
    assert re.search(r"wall time: \d+ s .*train \d+ s", summary)
    # Each result was also printed in full, with its protocol, as it came.
    assert out.count("Results:") == 2 and out.count("Protocol:") == 2


def test_demo_leaves_a_foreign_dataset_folder_and_refuses_another_test_set(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "synthetic").mkdir(parents=True)  # not the generator's: never overwritten
    status = cli.main(["demo", "--root", str(root), "--output", str(tmp_path / "run"), *TINY_DEMO])
    assert status == 2 and "not a synthetic dataset, left as is" in capsys.readouterr().err
    status = cli.main(["demo", "--output", str(tmp_path / "run"), "evaluation.dataset=mars"])
    err = capsys.readouterr().err
    assert status == 2 and "tests on the test split of the set it trains on" in err
    assert not (tmp_path / "run").exists()


def test_the_untrained_model_is_the_one_training_starts_from(tmp_path):
    dataset = VideoReIDDataset("tiny", tiny_tracklets(num_identities=4), [], [])
    config = load_config(DEMO_CONFIG, [*TINY_DEMO[1:], "train.epochs=0", f"train.output_dir={tmp_path}"])
    untrained = initial_model(config, dataset.num_train_pids).state_dict()
    torch.manual_seed(12345)  # train() must reseed
    started_from = train(config, dataset=dataset).model.state_dict()
    assert untrained.keys() == started_from.keys()
    assert all(torch.equal(untrained[name], started_from[name]) for name in untrained)
