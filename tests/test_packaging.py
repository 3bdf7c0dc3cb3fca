"""What a build is for: the version label, the check against the running
torch before the library loads, its messages, python -m cosam_ext.info,
setup.py's use of them, and what the wheel requires."""
import email
import os
import re
import shutil
import subprocess
import sys
import warnings

import pytest
import torch

import cosam_ext
from cosam_ext import _build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_info(torch_version, cuda=None, arch_list=None):
    return {"version": "0.1.0+test", "torch": torch_version, "cuda": cuda, "cuda_arch_list": arch_list}


@pytest.mark.parametrize(
    "torch_version, cuda, tag",
    [("2.13.0+cpu", None, "pt213cpu"), ("2.14.1+cu130", "13.0", "pt214cu130"), ("2.9.0", "12.8", "pt29cu128")],
)
def test_build_tag(torch_version, cuda, tag):
    assert _build.build_tag(torch_version, cuda) == tag


def test_same_minor_version_matches():
    assert _build.mismatch(build_info("2.13.0+cpu"), "2.13.1", None) is None
    assert _build.mismatch(build_info("2.14.0+cu130", "13.0", "9.0"), "2.14.1+cu130", "13.0") is None


def test_cpu_build_loads_into_cuda_torch():
    assert _build.mismatch(build_info("2.14.1+cu130"), "2.14.1+cu130", "13.0") is None


@pytest.mark.parametrize(
    "info, torch_version, cuda, reason",
    [
        (build_info("2.13.0+cpu"), "2.14.1", None, "built against torch 2.13 and cannot load into 2.14"),
        (build_info("2.14.1+cu130", "13.0", "9.0"), "2.14.1+cpu", None, "needs a CUDA build of torch"),
        (build_info("2.14.1+cu130", "13.0", "9.0"), "2.14.1+cu126", "12.6", "built for CUDA 13.0, this torch uses CUDA 12.6"),
    ],
)
def test_mismatch(info, torch_version, cuda, reason):
    assert reason in _build.mismatch(info, torch_version, cuda)


def test_load_library_refuses_a_build_for_another_torch(monkeypatch):
    monkeypatch.setattr(_build, "read_build_info", lambda: build_info("2.1.0+cpu"))
    with pytest.raises(_build.BuildMismatchError) as error:
        _build.load_library()
    message = str(error.value)
    assert "built against torch 2.1 and cannot load into" in message
    assert f"running torch {torch.__version__}" in message
    # The dev tree's rebuild command.
    assert f"cd {ROOT} && python -m pip install --no-build-isolation --no-deps -e ." in message


@pytest.mark.parametrize(
    "error, reason",
    [
        (ImportError("cosam_ext/_C.abi3.so: undefined symbol: _ZN3c104cuda", name="cosam_ext._C"),
         "cosam_ext._C failed to load (cosam_ext/_C.abi3.so: undefined symbol: _ZN3c104cuda)"),
        (ModuleNotFoundError("No module named 'cosam_ext._C'", name="cosam_ext._C"),
         "the compiled library cosam_ext._C is missing"),
    ],
)
def test_load_library_explains_a_library_that_does_not_load(monkeypatch, error, reason):
    def fail(name):
        raise error

    monkeypatch.setattr(_build, "read_build_info", lambda: build_info(torch.__version__))
    monkeypatch.setattr(_build.importlib, "import_module", fail)
    with pytest.raises(_build.BuildMismatchError, match="Rebuild it against the running torch") as raised:
        _build.load_library()
    assert reason in str(raised.value)
    assert f"built for torch {torch.__version__}, CPU kernels only" in str(raised.value)


def test_rebuild_hint_outside_a_source_tree_names_the_wheel(tmp_path):
    hint = _build.rebuild_hint("2.14.1+cu130", "13.0", package_dir=str(tmp_path / "cosam_ext"))
    assert f"version {_build.VERSION}+pt214cu130" in hint
    assert "make wheel" in hint


def test_cpu_only_build_warns_where_a_gpu_is_available(monkeypatch):
    monkeypatch.setattr(_build, "read_build_info", lambda: build_info(torch.__version__))
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.warns(UserWarning, match="built without its CUDA kernels .* but a GPU is available"):
        _build.load_library()


def test_no_warning_without_a_gpu(monkeypatch):
    monkeypatch.setattr(_build, "read_build_info", lambda: build_info(torch.__version__))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _build.load_library()


@pytest.mark.parametrize(
    "arch_list, capability, coverage",
    [
        ("8.0;8.6;9.0", (8, 9), "sm_86 code"),  # a binary runs on later minors of its major
        ("7.5 8.0", (8, 0), "sm_80 code"),
        ("8.0;9.0+PTX", (12, 0), "PTX 9.0 compiled at load"),
        ("9.0a", (9, 0), "sm_90 code"),
        ("9.0a", (10, 0), None),  # architecture-specific: that GPU only
        ("8.0;8.6", (7, 5), None),
        ("8.0", (9, 0), None),
    ],
)
def test_arch_coverage(arch_list, capability, coverage):
    assert _build.arch_coverage(arch_list, capability) == coverage


@pytest.mark.parametrize(
    "flag, arch",
    [("sm_86", "8.6"), ("sm_90", "9.0"), ("sm_90a", "9.0a"), ("sm_100", "10.0"), ("sm_100f", "10.0f"),
     ("sm_103a", "10.3a"), ("sm_120a", "12.0a"), ("sm_121f", "12.1f")],
)
def test_arch_of_flag(flag, arch):
    assert _build.arch_of_flag(flag) == arch


@pytest.mark.parametrize("flag", ["sm_9", "sm_1000", "sm_90x", "sm_90af", "compute_90", "sm90"])
def test_arch_of_flag_refuses_other_names(flag):
    with pytest.raises(ValueError, match="sm_XY"):
        _build.arch_of_flag(flag)


# What TORCH_CUDA_ARCH_LIST entries torch 2.13's cpp_extension builds (the
# list in its _get_cuda_arch_flags; no 'f' variants), each also with +PTX.
TORCH_213_ARCHES = {
    arch + ptx
    for arch in "3.5 3.7 5.0 5.2 5.3 6.0 6.1 6.2 7.0 7.2 7.5 8.0 8.6 8.7 8.9 9.0 9.0a 10.0 10.0a 11.0 11.0a "
    "10.3 10.3a 12.0 12.0a 12.1 12.1a".split()
    for ptx in ("", "+PTX")
}


@pytest.mark.parametrize(
    "flags, arch_list",
    [
        ("sm_75 sm_80 sm_86 sm_90 sm_100 sm_120", "7.5;8.0;8.6;9.0;10.0;12.0+PTX"),  # torch 2.14.1+cu130's
        ("sm_120 sm_90 sm_100 sm_86", "8.6;9.0;10.0;12.0+PTX"),  # numerically, not as strings
        ("sm_90a sm_100f sm_120a compute_120", "9.0a;10.0;12.0+PTX;12.0a"),  # 10.0f unknown to torch: built plain
        ("sm_80 sm_90 sm_90a sm_103 sm_121a", "8.0;9.0;9.0a;10.3;12.1+PTX;12.1a"),
        ("sm_80 sm_101", "8.0+PTX"),  # an architecture torch cannot build is left out
        ("compute_90", ""),
    ],
)
def test_default_arch_list(flags, arch_list):
    assert _build.default_arch_list(flags.split(), TORCH_213_ARCHES.__contains__) == arch_list


@pytest.mark.parametrize("saved", [None, "8.0"])
def test_torch_accepts_arch_asks_the_installed_torch(monkeypatch, saved):
    if saved is None:
        monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    else:
        monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", saved)
    assert _build.torch_accepts_arch("9.0") and _build.torch_accepts_arch("9.0+PTX")
    assert not _build.torch_accepts_arch("4.2")
    assert os.environ.get("TORCH_CUDA_ARCH_LIST") == saved


def test_info_reports_the_build_beside_the_running_torch():
    result = subprocess.run([sys.executable, "-m", "cosam_ext.info"], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"cosam_ext {cosam_ext.__version__} at ")
    running = lines[lines.index("running:") + 1]
    assert running.split() == ["torch", torch.__version__]
    kernels = lines[lines.index("kernels registered:") + 1].split(None, 1)
    assert kernels[0] == "CPU" and "ncc_summary, ncc_summary_backward" in kernels[1]
    info = _build.read_build_info()
    if info is not None:  # a library built by setup.py
        assert lines[lines.index("built for:") + 1].split() == ["torch", info["torch"]]
        assert cosam_ext.__version__ == info["version"]


def run_setup(root, *args, **env):
    return subprocess.run(
        [sys.executable, "setup.py", *args], cwd=root, capture_output=True, text=True, env={**os.environ, **env}
    )


def test_setup_names_the_version_after_the_build():
    result = run_setup(ROOT, "--version", FORCE_ONLY_CPU="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{_build.VERSION}+{_build.build_tag(torch.__version__, None)}"


# setup.py run as a CUDA build (FORCE_CUDA=1) by a torch that says it is one
# and names the architectures `flags`, with no CUDA toolkit needed: prints the
# TORCH_CUDA_ARCH_LIST it leaves.
AS_CUDA_TORCH = """
import os, runpy, sys
import torch
import torch.utils.cpp_extension as cpp_extension
torch.version.cuda = "13.0"
torch._C._cuda_getArchFlags = lambda: {flags!r}
cpp_extension.CUDA_HOME = "/nonexistent/cuda"
sys.path.insert(0, os.getcwd())
sys.argv = ["setup.py", "--version"]
runpy.run_path("setup.py", run_name="__main__")
print("TORCH_CUDA_ARCH_LIST=" + os.environ["TORCH_CUDA_ARCH_LIST"])
"""


def run_setup_as_cuda_torch(flags, **env):
    environment = {**os.environ, "FORCE_CUDA": "1", **env}
    environment.pop("FORCE_ONLY_CPU", None)
    if "TORCH_CUDA_ARCH_LIST" not in env:
        environment.pop("TORCH_CUDA_ARCH_LIST", None)
    return subprocess.run(
        [sys.executable, "-c", AS_CUDA_TORCH.format(flags=flags)], cwd=ROOT, capture_output=True, text=True,
        env=environment,
    )


@pytest.mark.parametrize(
    "flags, env, arch_list",
    [
        ("sm_86 sm_90a sm_120", {}, "8.6;9.0a;12.0+PTX"),
        ("sm_86 sm_90a sm_120", {"TORCH_CUDA_ARCH_LIST": ""}, "8.6;9.0a;12.0+PTX"),  # empty: unset to torch too
        ("sm_86 sm_90a sm_120", {"TORCH_CUDA_ARCH_LIST": "8.0"}, "8.0"),
        ("", {"TORCH_CUDA_ARCH_LIST": "9.0"}, "9.0"),  # the default is not needed, so not computed
    ],
)
def test_setup_takes_the_arch_list_from_torch_only_when_unset(flags, env, arch_list):
    result = run_setup_as_cuda_torch(flags, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"TORCH_CUDA_ARCH_LIST={arch_list}"


def test_setup_asks_for_an_arch_list_where_torch_names_none():
    result = run_setup_as_cuda_torch("")
    assert result.returncode != 0
    assert "this torch names no GPU architectures: set TORCH_CUDA_ARCH_LIST" in result.stderr


def copy_setup_files(root):
    """The files setup.py reads to describe the build (not to compile it)."""
    for path in ("setup.py", "cosam_ext/_build.py", "csrc/sources.txt", "csrc/ops.cpp"):
        os.makedirs(root / os.path.dirname(path), exist_ok=True)
        shutil.copy(os.path.join(ROOT, path), root / path)


def test_setup_refuses_a_source_file_in_no_set(tmp_path):
    copy_setup_files(tmp_path)
    (tmp_path / "csrc" / "extra").mkdir()
    (tmp_path / "csrc" / "extra" / "stray.cu").write_text("")
    result = run_setup(tmp_path, "--version", FORCE_ONLY_CPU="1")
    assert result.returncode != 0
    assert "csrc/extra/stray.cu: in no set of csrc/sources.txt, so in no build" in result.stderr


REID_REQUIREMENTS = {"scipy", "pillow", "tqdm", "pyyaml", "matplotlib"}
ONNX_REQUIREMENTS = {"onnx", "onnxruntime", "onnxscript"}


def wheel_requirements(root):
    """{marker or None: {requirement}} from the Requires-Dist lines of the
    METADATA that pip puts into the wheel (setup.py dist_info writes it
    without compiling anything)."""
    output = root / "metadata"
    output.mkdir()
    result = run_setup(root, "-q", "dist_info", "--output-dir", str(output), FORCE_ONLY_CPU="1")
    assert result.returncode == 0, result.stderr
    (metadata,) = output.glob("*.dist-info/METADATA")
    requirements = {}
    for line in email.message_from_string(metadata.read_text()).get_all("Requires-Dist"):
        requirement, _, marker = line.partition(";")
        requirements.setdefault(marker.strip() or None, set()).add(requirement.strip())
    return requirements


def test_wheel_requires_only_torch_and_numpy_and_the_reid_stack_and_export_come_with_extras(tmp_path):
    copy_setup_files(tmp_path)
    assert wheel_requirements(tmp_path) == {
        None: {f"torch=={_build.major_minor(torch.__version__)}.*", "numpy"},
        'extra == "reid"': REID_REQUIREMENTS,
        'extra == "onnx"': ONNX_REQUIREMENTS,
    }


def test_requirements_txt_installs_the_extras_too():
    # make demo and make test install requirements.txt, then the package
    # without its dependencies: the re-ID stack's must be in that file.
    with open(os.path.join(ROOT, "requirements.txt")) as file:
        listed = {re.match(r"[\w.-]*", line.strip()).group().lower() for line in file}
    assert REID_REQUIREMENTS | ONNX_REQUIREMENTS <= listed
