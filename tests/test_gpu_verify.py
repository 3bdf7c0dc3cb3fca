"""scripts/gpu_verify.sh's rehearsal (--dry-run) catches the crashes that the
script's first GPU run would have met: each is planted in a copy of the tree,
and the rehearsal must fail at the step that crashes, with every other step
passing. (The clean rehearsal of both calls is `make gpu-verify-dry-run`.)"""
import importlib.util
import json
import os
import re
import subprocess

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join("scripts", "gpu_verify.sh")

# name: (call, the step that must fail, [(text in the script, planted text)]).
PLANTS = {
    # The demo and the benchmarks import cosam_reid, which lives in python/:
    # the old script never put it on the path.
    "demo without python/ on the path": (
        "extra", "amp-demo",
        [("PYTHONPATH=$REID_PATH python3 -m cosam_reid.cli demo", "PYTHONPATH=$OPS_PATH python3 -m cosam_reid.cli demo")],
    ),
    "benchmarks without python/ on the path": (
        "extra", "benchmarks",
        [("PYTHONPATH=$REID_PATH python3 -m pytest", "PYTHONPATH=$OPS_PATH python3 -m pytest")],
    ),
    # The old script ran its sanitizer workload from $OUT, where cosam_ext
    # does not import, and echoed the tool's clean-looking last line.
    "sanitizer workload without the repository on the path": (
        "core", "sanitizer",
        [("PYTORCH_NO_CUDA_MEMORY_CACHING=1 PYTHONPATH=$OPS_PATH", "PYTORCH_NO_CUDA_MEMORY_CACHING=1 PYTHONPATH=")],
    ),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of what the device tool sends: tracked and untracked files that
    git does not ignore. Shared by the tests, so only the first builds."""
    copy = tmp_path_factory.mktemp("gpu-verify") / "tree"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for path in filter(None, listed):
        source = os.path.join(ROOT, path)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(copy / path), exist_ok=True)
            with open(source, "rb") as file:
                (copy / path).write_bytes(file.read())
    return copy


def rehearse(tree, call, out):
    return subprocess.run(
        ["bash", SCRIPT, "--dry-run", call], cwd=tree, env={**os.environ, "OUT": str(out)},
        capture_output=True, text=True, timeout=3600,
    )


def step_status(summary):
    """{step: 'ok' or 'FAILED: ...'} from the summary's step lines."""
    return dict(re.findall(r"^gpu_verify: (\S+) +(ok|FAILED[^\n]*?) +\d+ s \(limit", summary, re.MULTILINE))


@pytest.mark.parametrize("plant", PLANTS)
def test_rehearsal_fails_on_planted_crash(tree, tmp_path, plant):
    call, crashing_step, substitutions = PLANTS[plant]
    script = tree / SCRIPT
    original = script.read_text()
    planted = original
    for text, replacement in substitutions:
        assert planted.count(text) == 1, f"the plant's text is not once in {SCRIPT}: {text}"
        planted = planted.replace(text, replacement)
    script.write_text(planted)
    try:
        result = rehearse(tree, call, tmp_path / "out")
    finally:
        script.write_text(original)
    summary = (tmp_path / "out" / "summary.txt").read_text()
    statuses = step_status(summary)
    assert result.returncode != 0, summary
    assert statuses.pop(crashing_step).startswith("FAILED"), summary
    assert statuses and all(status == "ok" for status in statuses.values()), summary
    print(f"{plant}:\n{summary}")


def load_steps():
    spec = importlib.util.spec_from_file_location("gpu_verify_steps", os.path.join(ROOT, "scripts", "gpu_verify_steps.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


steps = load_steps()


def test_check_out_counts_what_comes_back(tmp_path, capsys):
    for index in range(8):
        (tmp_path / f"log{index}.txt").write_text("x")
    assert steps.main(["check-out", str(tmp_path)]) == 0
    (tmp_path / "one-too-many.txt").write_text("x")
    assert steps.main(["check-out", str(tmp_path)]) == 1
    assert "9 files, only 8 come back" in capsys.readouterr().out


def test_check_out_refuses_deep_files_and_odd_names(tmp_path, capsys):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "ok.log").write_text("x")
    assert steps.main(["check-out", str(tmp_path)]) == 0
    (tmp_path / "a" / "b" / "c").mkdir()
    (tmp_path / "a" / "b" / "c" / "deep.log").write_text("x")
    (tmp_path / "odd name.log").write_text("x")
    assert steps.main(["check-out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "a/b/c/deep.log: more than 2 folders down" in out and "odd name.log" in out


def amp_run(folder, losses, scale):
    folder.mkdir()
    rows = "".join(f"1,{step},{step},{loss},0,0,0,0.001\n" for step, loss in enumerate(losses, 1))
    (folder / "metrics.csv").write_text("epoch,step,global_step,loss,cross_entropy,triplet,accuracy,lr\n" + rows)
    scaler = torch.amp.GradScaler("cpu").state_dict() if scale else {}
    if scale:
        scaler["scale"] = scale
    torch.save({"scaler": scaler}, folder / "checkpoint.pt")
    return str(folder)


def test_check_amp_run(tmp_path, capsys):
    falling = [5.0, 4.0, 3.0, 2.5]
    assert steps.main(["check-amp-run", amp_run(tmp_path / "clean", falling, 2.0**16)]) == 0
    assert steps.main(["check-amp-run", amp_run(tmp_path / "rising", falling[::-1], 2.0**16)]) == 1
    assert steps.main(["check-amp-run", amp_run(tmp_path / "skipped", falling, 2.0**14)]) == 1
    assert "2 skipped for inf/NaN gradients" in capsys.readouterr().out
    # Without AMP (the CPU) there is no scaler state: accepted in a dry run only.
    assert steps.main(["check-amp-run", amp_run(tmp_path / "no-amp", falling, None)]) == 1
    assert steps.main(["check-amp-run", str(tmp_path / "no-amp"), "--dry-run"]) == 0


def test_merge_benchmarks_appends(tmp_path):
    out, part = tmp_path / "results.json", tmp_path / "part.json"
    for names in (["a", "b"], ["c"]):
        part.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": name} for name in names]}))
        assert steps.main(["merge-benchmarks", str(out), str(part)]) == 0
    part.write_text("")  # what pytest-benchmark leaves when no benchmark ran
    assert steps.main(["merge-benchmarks", str(out), str(part)]) == 0
    assert [b["name"] for b in json.loads(out.read_text())["benchmarks"]] == ["a", "b", "c"]
