"""The standalone CMake build of the op library: it compiles, its C++ tests
(tests/cpp/, run by ctest) pass, and its ops work without the Python module."""
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    assert shutil.which("cmake"), "cmake is required to build the standalone library"
    build = tmp_path_factory.mktemp("cmake")
    for command in (
        ["cmake", "-S", ROOT, "-B", str(build), f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"],
        ["cmake", "--build", str(build), "--parallel", "2"],
    ):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    return build


def test_ctest_passes(build):
    result = subprocess.run(["ctest", "--test-dir", str(build), "--output-on-failure"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # ctest 3.x closes with "100% tests passed, 0 tests failed out of 3", 4.x
    # with "100% tests passed out of 3".
    assert re.search(r"100% tests passed(, 0 tests failed)? out of 3", result.stdout), result.stdout


def test_library_registers_working_ops(build):
    library = build / "libcosam_ops.so"
    # A fresh interpreter that never imports cosam_ext: the ops come from the
    # CMake library alone; the reference formula is written out inline.
    script = textwrap.dedent(
        f"""
        import torch
        torch.ops.load_library({str(library)!r})
        x = torch.randn(8, 5, 3, 2, dtype=torch.float64)
        volume = torch.ops.cosam.ncc_cost_volume(x, 4, 1e-4)
        z = x.flatten(2)
        z = (z - z.mean(1, keepdim=True)) / (z.std(1, keepdim=True) + 1e-4)
        # frame 0 of clip 1 (row 4) against its slot 2, frame 3 (row 7)
        expected = z[7].T @ z[4] / 5
        torch.testing.assert_close(volume[4, 2 * 6:3 * 6].reshape(6, 6), expected)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
