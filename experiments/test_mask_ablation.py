"""experiments/mask_ablation.py on a tiny synthetic set: each run is trained,
scored and written to the results file, a rerun trains nothing, the table
gives mean and spread per variant, and a results file refuses another setting."""
import json

import pytest

import mask_ablation
from cosam_reid import cli

TINY = {"num_identities": 4, "num_cameras": 2, "tracklet_length": [3, 4], "image_size": [32, 16]}
OVERRIDES = [*(f"{section}.dataset_options.{key}={json.dumps(value)}" for section in ("data", "evaluation")
               for key, value in TINY.items()),
             "data.input_size=[32,16]", "data.identities_per_batch=2", "data.instances_per_identity=2",
             "train.epochs=1"]


def test_runs_are_scored_once_and_tabulated(tmp_path, capsys):
    root = tmp_path / "data"
    assert cli.main(["synth", "--root", str(root), "--identities", "4", "--cameras", "2", "--tracklet-length",
                     "3", "4", "--size", "32", "16"]) == 0
    results = tmp_path / "results.json"
    # The overrides may come anywhere, even after options that take several values.
    argv = ["--root", str(root), "--runs", str(tmp_path / "runs"), "--results", str(results), *OVERRIDES,
            "--seeds", "1", "2", "--variants", "both", "no COSAM"]
    mask_ablation.main(argv)
    runs = json.loads(results.read_text())["runs"]
    assert sorted(runs) == ["both/1", "both/2", "no COSAM/1", "no COSAM/2"]
    assert set(runs["both/1"]["masks"]) == {"COSAM_3"} and runs["no COSAM/1"]["masks"] is None
    assert all(0 <= run["mAP"] <= 1 and run["steps"] > 0 for run in runs.values())
    capsys.readouterr()

    mask_ablation.main(argv)  # everything is in the file: nothing trains
    out = capsys.readouterr().out
    assert "=> both, seed" not in out
    both = next(line for line in out.splitlines() if line.startswith("| both |"))
    mAP = [100 * runs[f"both/{seed}"]["mAP"] for seed in (1, 2)]
    assert both.split(" | ")[2].startswith(f"{sum(mAP) / 2:.2f} ± ")
    assert "Welch's t-test, mAP of both against no COSAM" in out
    with pytest.raises(SystemExit, match="holds runs with the overrides"):
        mask_ablation.main([word for word in argv if word != "train.epochs=1"])

    # --initial scores the model each run started from, trains nothing, and the table gains its column.
    mask_ablation.main([*argv, "--initial"])
    out = capsys.readouterr().out
    assert "=> both, seed" not in out
    runs = json.loads(results.read_text())["runs"]
    initial = [runs[f"both/{seed}"]["initial_masks"]["COSAM_3"]["auc"] for seed in (1, 2)]
    assert all(0 <= auc <= 1 for auc in initial) and initial[0] != initial[1]  # seeded per run
    assert runs["no COSAM/1"]["initial_masks"] is None
    assert initial != [runs[f"both/{seed}"]["masks"]["COSAM_3"]["auc"] for seed in (1, 2)]
    header = next(line for line in out.splitlines() if line.startswith("| variant |"))
    assert "COSAM_3 mask AUC before training" in header


def test_a_file_of_the_previous_generator_takes_no_new_runs(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"setting": {"config": "masks", "overrides": []}, "runs": {}}))
    with pytest.raises(SystemExit, match="runs on synthetic generator 1"):
        mask_ablation.main(["--results", str(results), "--root", str(tmp_path / "data"), "--seeds", "1"])
    mask_ablation.main(["--results", str(results), "--table"])  # its table still prints
    assert "synthetic generator 1" in capsys.readouterr().out
