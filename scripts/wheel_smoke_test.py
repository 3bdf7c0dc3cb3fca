"""Smoke test of an installed cosam_ext wheel (scripts/wheel_smoke_test.sh
runs it in a fresh virtual environment, from an empty directory), in one of
two stages:

    python wheel_smoke_test.py layer cosam_ext-0.1.0+pt213cpu-cp310-abi3-linux_x86_64.whl
    python wheel_smoke_test.py reid cosam_ext-0.1.0+pt213cpu-cp310-abi3-linux_x86_64.whl

layer: after `pip install cosam_ext` alone, the re-ID stack's dependencies
are absent, the ops, the layer and `python -m cosam_ext.info` work, and
cosam-reid says which extra to install.
reid: after `pip install cosam_ext[reid]`, the cosam-reid command works.
"""
import importlib.util
import os
import subprocess
import sys
import sysconfig

import torch

import cosam_ext
from cosam_ext import CosamLayer, ops, reference

# The import names of the "reid" extra's distributions (scipy, pillow, tqdm, pyyaml, matplotlib).
REID_MODULES = ("scipy", "PIL", "tqdm", "yaml", "matplotlib")


def check_installed_from_wheel(wheel_name):
    site = sysconfig.get_paths()["platlib"]
    assert cosam_ext.__file__.startswith(site), f"cosam_ext imported from {cosam_ext.__file__}, not {site}"
    version = os.path.basename(wheel_name).split("-")[1]
    assert cosam_ext.__version__ == version, (cosam_ext.__version__, version)


def check_ops():
    x = torch.randn(6, 5, 3, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 2 * 6, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64)
    torch.testing.assert_close(ops.ncc_cost_volume(x, 3), reference.ncc_cost_volume(x, 3))
    torch.testing.assert_close(ops.ncc_summary(x, weight, bias, 3), reference.ncc_summary(x, weight, bias, 3))
    assert torch.autograd.gradcheck(lambda x, weight: ops.ncc_summary(x, weight, bias, 3), (x, weight))


def check_layer():
    """Forward and backward of the fused layer against the reference one,
    with the same parameters."""
    torch.manual_seed(0)
    layer = CosamLayer(in_channels=32, num_frames=4, spatial_size=(8, 4)).double()
    feats = torch.randn(2, 4, 32, 8, 4, dtype=torch.float64)
    results = []
    for implementation in ("fused", "reference"):
        layer.implementation = implementation
        layer.zero_grad()
        inputs = feats.clone().requires_grad_(True)
        out = layer(inputs)
        out.square().mean().backward()
        results.append((out, inputs.grad, [p.grad for p in layer.parameters()]))
    (out, grad, param_grads), (expected, expected_grad, expected_param_grads) = results
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, expected_grad)
    torch.testing.assert_close(param_grads, expected_param_grads)


def check_reid_dependencies_absent():
    present = [name for name in REID_MODULES if importlib.util.find_spec(name) is not None]
    assert not present, f"`pip install cosam_ext` installed {present}, which only the reid extra should bring"


def check_cli_names_the_extra():
    """Without the extra, cosam-reid fails with the install command to run."""
    result = subprocess.run([cli_path(), "--help"], capture_output=True, text=True)
    assert result.returncode != 0 and "pip install cosam_ext[reid]" in result.stderr, result.stderr


def check_info():
    info = subprocess.run([sys.executable, "-m", "cosam_ext.info"], capture_output=True, text=True, check=True)
    print(info.stdout)
    assert f"torch          {torch.__version__}" in info.stdout, info.stdout


def cli_path():
    return os.path.join(os.path.dirname(sys.executable), "cosam-reid")


def check_cli():
    usage = subprocess.run([cli_path(), "--help"], capture_output=True, text=True, check=True).stdout
    assert "demo" in usage, usage


STAGES = {
    "layer": (check_reid_dependencies_absent, check_ops, check_layer, check_info, check_cli_names_the_extra),
    "reid": (check_cli,),
}

if __name__ == "__main__":
    stage, wheel = sys.argv[1:]
    check_installed_from_wheel(wheel)
    for check in STAGES[stage]:
        check()
    print(f"wheel_smoke_test: {stage} ok ({wheel} in {sys.prefix}, torch {torch.__version__})")
