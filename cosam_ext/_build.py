"""What the compiled library cosam_ext._C was built for, and the check of
that against the running torch before the library is loaded.

setup.py writes the build's metadata to cosam_ext/_build_info.json beside
the library. The library links against the C++ API of one torch minor
version (and, with the CUDA kernels, one CUDA version), which has no stable
ABI: loaded into another, it fails with an undefined symbol at best. So
`load_library` compares first and raises one `BuildMismatchError` that says
what was built for what and how to rebuild.

This module imports torch only inside functions and nothing from the package:
setup.py loads it by path (the package's __init__ needs the library) to name
the wheel after the same tag the check reports.
"""
import importlib
import json
import os
import re
import string
import warnings

VERSION = "0.1.0"
BUILD_INFO = "_build_info.json"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class BuildMismatchError(ImportError):
    """cosam_ext._C was built for another torch or CUDA than the running one,
    or cannot be loaded at all."""


def major_minor(version):
    """'2.14.1+cu130' -> '2.14'; '13.0' -> '13.0'."""
    return ".".join(version.split("+")[0].split(".")[:2])


def build_tag(torch_version, cuda_version):
    """The local version label of a build: 'pt213cpu' for torch 2.13 without
    the CUDA kernels, 'pt214cu130' for torch 2.14 with kernels for CUDA 13.0."""
    torch_part = "pt" + major_minor(torch_version).replace(".", "")
    return torch_part + ("cpu" if cuda_version is None else "cu" + major_minor(cuda_version).replace(".", ""))


def read_build_info(package_dir=PACKAGE_DIR):
    """The metadata setup.py wrote beside the library, or None where there is
    none (a library built by hand, or before the metadata existed)."""
    try:
        with open(os.path.join(package_dir, BUILD_INFO)) as file:
            return json.load(file)
    except FileNotFoundError:
        return None


def describe_build(info):
    if info is None:
        return "an unknown torch (no build metadata)"
    kernels = "CPU kernels only" if info["cuda"] is None else f"CUDA {info['cuda']} kernels for {info['cuda_arch_list']}"
    return f"torch {info['torch']}, {kernels}"


def describe_running(torch_version, cuda_version):
    return f"torch {torch_version} ({'CPU build' if cuda_version is None else 'CUDA ' + cuda_version})"


def mismatch(info, torch_version, cuda_version):
    """Why a library built as `info` cannot load into a torch `torch_version`
    built for CUDA `cuda_version` (None: a CPU build), or None if it can."""
    if major_minor(info["torch"]) != major_minor(torch_version):
        return f"it was built against torch {major_minor(info['torch'])} and cannot load into {major_minor(torch_version)}"
    if info["cuda"] is not None and cuda_version is None:
        return "it contains CUDA kernels and needs a CUDA build of torch"
    if info["cuda"] is not None and major_minor(info["cuda"]) != major_minor(cuda_version):
        return f"its CUDA kernels were built for CUDA {info['cuda']}, this torch uses CUDA {cuda_version}"
    return None


def arch_coverage(arch_list, capability):
    """How a GPU of compute capability (major, minor) runs kernels built for
    TORCH_CUDA_ARCH_LIST-style `arch_list` ('8.0;9.0+PTX'): 'sm_80 code' (a
    binary for its major version at or below its minor), 'PTX 9.0 compiled
    at load' (PTX of an older architecture), or None (no kernel image)."""
    entries = [entry.strip() for entry in arch_list.replace(" ", ";").split(";") if entry.strip()]
    binaries, ptx = [], []
    for entry in entries:
        arch, _, suffix = entry.partition("+")
        # 9.0a and the like are architecture-specific: they run only on that GPU.
        exact = arch[-1].isalpha()
        major, minor = (int(part) for part in arch.rstrip(string.ascii_lowercase).split("."))
        if major == capability[0] and (minor == capability[1] or (not exact and minor < capability[1])):
            binaries.append((major, minor))
        if suffix == "PTX" and (major, minor) <= tuple(capability):
            ptx.append((major, minor))
    if binaries:
        return "sm_%d%d code" % max(binaries)
    if ptx:
        return "PTX %d.%d compiled at load" % max(ptx)
    return None


def arch_of_flag(flag):
    """The TORCH_CUDA_ARCH_LIST spelling of an nvcc code name as
    torch._C._cuda_getArchFlags() lists them: 'sm_86' -> '8.6', 'sm_100' ->
    '10.0', 'sm_90a' -> '9.0a' (architecture-specific), 'sm_100f' -> '10.0f'
    (family-specific). ValueError for anything else."""
    match = re.fullmatch(r"sm_(\d{1,2})(\d)([af]?)", flag)
    if match is None:
        raise ValueError(f"not a GPU code name of the form sm_XY[a|f] or sm_XYZ[a|f]: {flag!r}")
    major, minor, suffix = match.groups()
    return f"{int(major)}.{minor}{suffix}"


def arch_sort_key(arch):
    """'9.0a' -> (9, 0, 'a'): numerical order, each plain architecture
    before its suffixed variants."""
    version = arch.rstrip(string.ascii_lowercase)
    major, minor = version.split(".")
    return int(major), int(minor), arch[len(version):]


def default_arch_list(flags, accepts):
    """TORCH_CUDA_ARCH_LIST for the GPU code names `flags` (the installed
    torch's), keeping only architectures for which accepts(arch) is true (what
    torch.utils.cpp_extension can build): sorted numerically, with the newest
    plain architecture also as PTX, compiled at load on GPUs newer than all of
    them ('a' and 'f' code runs on no later architecture). A suffixed
    architecture that is not accepted is built plain, whose code runs on the
    same GPUs (sm_100f on 10.x: so does sm_100). '' when none is left."""
    arches = set()
    for flag in flags:
        if not flag.startswith("sm_"):
            continue  # compute_XY: PTX, which the newest plain entry provides
        arch = arch_of_flag(flag)
        if not accepts(arch):
            arch = arch.rstrip(string.ascii_lowercase)
        if accepts(arch):
            arches.add(arch)
    if not arches:
        return ""
    ptx = max(arches, key=arch_sort_key).rstrip(string.ascii_lowercase)
    if accepts(ptx + "+PTX"):
        arches.add(ptx)
    return ";".join(arch + "+PTX" if arch == ptx else arch for arch in sorted(arches, key=arch_sort_key))


def torch_accepts_arch(arch):
    """Whether the installed torch.utils.cpp_extension builds for
    TORCH_CUDA_ARCH_LIST=arch (the architectures it knows are local to its
    _get_cuda_arch_flags, so this asks it; it reads only the variable)."""
    from torch.utils import cpp_extension

    saved = os.environ.get("TORCH_CUDA_ARCH_LIST")
    os.environ["TORCH_CUDA_ARCH_LIST"] = arch
    try:
        cpp_extension._get_cuda_arch_flags()
        return True
    except ValueError:
        return False
    finally:
        if saved is None:
            del os.environ["TORCH_CUDA_ARCH_LIST"]
        else:
            os.environ["TORCH_CUDA_ARCH_LIST"] = saved


def rebuild_hint(torch_version, cuda_version, package_dir=PACKAGE_DIR):
    """How to get a library for the running torch: in a source checkout, the
    in-place rebuild; otherwise the wheel for this torch, or how to make one."""
    source = os.path.dirname(package_dir)
    if os.path.exists(os.path.join(source, "setup.py")):
        return (
            f"Rebuild it against the running torch: cd {source} && "
            "python -m pip install --no-build-isolation --no-deps -e ."
        )
    return (
        f"Install the cosam_ext wheel built for this torch (version {VERSION}+"
        f"{build_tag(torch_version, cuda_version)}), or build it from a source checkout "
        "with this torch installed: make wheel (pip wheel --no-build-isolation --no-deps .)."
    )


def load_library():
    """Import cosam_ext._C (which registers torch.ops.cosam.*) after checking
    that it was built for the running torch; raise BuildMismatchError with
    both sides and the rebuild command where it was not or does not load."""
    import torch

    running = (torch.__version__, torch.version.cuda)
    info = read_build_info()
    sides = f"cosam_ext._C was built for {describe_build(info)}; running {describe_running(*running)}."
    problem = None if info is None else mismatch(info, *running)
    if problem:
        raise BuildMismatchError(f"cosam_ext cannot load its compiled library: {problem}. {sides} {rebuild_hint(*running)}")
    try:
        importlib.import_module("cosam_ext._C")
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and error.name == "cosam_ext._C":
            reason = f"the compiled library cosam_ext._C is missing from {PACKAGE_DIR} (the extension was not built)"
        else:
            reason = f"cosam_ext._C failed to load ({error})"
        raise BuildMismatchError(f"cosam_ext: {reason}. {sides} {rebuild_hint(*running)}") from error
    if info is not None and info["cuda"] is None and running[1] is not None and torch.cuda.is_available():
        warnings.warn(
            f"cosam_ext was built without its CUDA kernels ({describe_build(info)}) but a GPU is available: "
            "the fused cosam ops run on CPU tensors only (on the GPU use CosamLayer(implementation='reference')). "
            "Build the CUDA kernels with a CUDA toolkit: FORCE_CUDA=1 make wheel, or "
            "FORCE_CUDA=1 pip install --no-build-isolation --no-deps -e . in a source checkout.",
            stacklevel=2,
        )
    return info
