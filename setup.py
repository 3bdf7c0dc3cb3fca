"""Build of cosam_ext and its compiled operator library cosam_ext._C.

Build against the torch that is already installed:

    pip install --no-build-isolation -e .                    # in place, for development
    pip wheel --no-build-isolation --no-deps -w dist .       # a wheel (make wheel)

(without --no-build-isolation pip builds in a fresh environment with whatever
torch it downloads there, and the extension then fails to load beside yours).

The version carries what the library was built for as its local label:
0.1.0+pt213cpu (torch 2.13, CPU kernels only), 0.1.0+pt214cu130 (torch 2.14,
CUDA 13.0 kernels); the same facts, with the GPU architectures and the
compilers, go to cosam_ext/_build_info.json beside the library, which
cosam_ext checks against the running torch before loading the library
(cosam_ext/_build.py) and `python -m cosam_ext.info` prints.

Environment switches (by default the CUDA kernels are built when torch is a
CUDA build and a CUDA toolkit is found, the CPU kernels alone otherwise):
    FORCE_CUDA=1      build the CUDA kernels even when no GPU is visible
    FORCE_ONLY_CPU=1  build the CPU kernels only
    TORCH_CUDA_ARCH_LIST="9.0;10.0"  GPU architectures; by default those the
                      installed torch was built for, the newest also as PTX
    MAX_JOBS=2        parallel compile jobs (ninja's default: all cores)
    DEBUG=1           -O0 -g
"""
import glob
import importlib.util
import json
import os
import subprocess

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension, get_cxx_compiler

ROOT = os.path.dirname(os.path.abspath(__file__))
DEBUG = os.getenv("DEBUG", "0") == "1"


def load_build_module():
    # By path: importing the package would load the library being built.
    spec = importlib.util.spec_from_file_location("cosam_ext_build", os.path.join(ROOT, "cosam_ext", "_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build_module()


def with_cuda():
    if os.getenv("FORCE_ONLY_CPU", "0") == "1":
        return False
    if os.getenv("FORCE_CUDA", "0") == "1":
        if torch.version.cuda is None:
            raise RuntimeError(f"FORCE_CUDA=1 needs a CUDA build of torch; torch {torch.__version__} is a CPU build")
        if CUDA_HOME is None:
            raise RuntimeError("FORCE_CUDA=1 needs a CUDA toolkit (nvcc): none found; set CUDA_HOME")
        return True
    # The CPU torch wheel cannot compile .cu files (it lacks the CUDA headers
    # of c10), so a toolkit alone is not enough.
    return CUDA_HOME is not None and torch.version.cuda is not None


def relative_glob(pattern):
    paths = glob.glob(os.path.join(ROOT, pattern), recursive=True)
    return sorted(os.path.relpath(path, ROOT) for path in paths)


def source_sets():
    """{set name: [files]} from csrc/sources.txt, the list CMakeLists.txt
    reads too. A .cpp or .cu file under csrc/ in no set is an error rather
    than a kernel silently left out of the build."""
    sets = {}
    with open(os.path.join(ROOT, "csrc", "sources.txt")) as file:
        for line in file:
            if line.strip() and not line.startswith("#"):
                name, pattern = line.split()
                sets.setdefault(name, []).extend(relative_glob(pattern))
    listed = {path for paths in sets.values() for path in paths}
    stray = [path for pattern in ("csrc/**/*.cpp", "csrc/**/*.cu") for path in relative_glob(pattern) if path not in listed]
    if stray:
        raise RuntimeError(f"{', '.join(stray)}: in no set of csrc/sources.txt, so in no build")
    return sets


def default_arch_list():
    """The architectures the installed torch was built for, the newest also
    as PTX for GPUs newer than all of them: the extension then runs wherever
    torch does. Needed because with no GPU visible torch cannot pick any."""
    arch_list = build.default_arch_list(torch._C._cuda_getArchFlags().split(), build.torch_accepts_arch)
    if not arch_list:
        raise RuntimeError("this torch names no GPU architectures: set TORCH_CUDA_ARCH_LIST, e.g. '8.0;9.0'")
    return arch_list


def version_line(executable, prefix=""):
    """The line of `executable --version` that starts with prefix."""
    try:
        output = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        return f"{executable}: unknown ({error})"
    return next((line for line in output.splitlines() if line.startswith(prefix)), output.strip())


CUDA = with_cuda()
if CUDA and not os.environ.get("TORCH_CUDA_ARCH_LIST"):
    # Only when unset (or empty, which torch reads as unset too): the default
    # needs a torch that names its architectures.
    os.environ["TORCH_CUDA_ARCH_LIST"] = default_arch_list()
TAG = build.build_tag(torch.__version__, torch.version.cuda if CUDA else None)
BUILD_INFO = {
    "version": f"{build.VERSION}+{TAG}",
    "torch": torch.__version__,
    "cuda": torch.version.cuda if CUDA else None,
    "cuda_arch_list": os.environ["TORCH_CUDA_ARCH_LIST"] if CUDA else None,
    "cxx11_abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
    "compiler": version_line(get_cxx_compiler()),
    "nvcc": version_line(os.path.join(CUDA_HOME, "bin", "nvcc"), "Cuda compilation tools") if CUDA else None,
}


# What cosam_reid imports beyond torch and numpy: `pip install cosam_ext[reid]`.
REID_REQUIREMENTS = ["scipy", "pillow", "tqdm", "pyyaml", "matplotlib"]
# What ONNX export (cosam_reid.deploy, `cosam-reid export`) needs: `pip install cosam_ext[onnx]`.
ONNX_REQUIREMENTS = ["onnx", "onnxruntime", "onnxscript"]


def extension():
    # ATen's parallel_for is header-inlined OpenMP in the torch wheels: without
    # -fopenmp the CPU kernels would silently run on one thread.
    # (py_limited_api=True below makes torch define Py_LIMITED_API, for the
    # oldest CPython it supports: 3.10.)
    cxx = ["-O0", "-g"] if DEBUG else ["-O3"]
    cxx += ["-fopenmp"]
    sets = source_sets()
    Extension, sources, compile_args = CppExtension, sets["core"] + sets["cpu"] + sets["python"], {"cxx": cxx}
    if CUDA:
        compile_args["nvcc"] = ["-O0", "-g"] if DEBUG else ["-O3"]
        Extension, sources = CUDAExtension, sources + sets["cuda"]
    return Extension(
        name="cosam_ext._C",
        sources=sources,
        extra_compile_args=compile_args,
        extra_link_args=["-fopenmp"],
        py_limited_api=True,
    )


class BuildWithInfo(BuildExtension.with_options(use_ninja=True)):
    """Also writes cosam_ext/_build_info.json beside the library: into the
    build directory (so into the wheel) and, for in-place and editable
    builds, into the source tree with the library."""

    def build_extensions(self):
        super().build_extensions()
        with open(self.build_info_path(), "w") as file:
            json.dump(BUILD_INFO, file, indent=2)

    def build_info_path(self):
        return os.path.join(self.build_lib, "cosam_ext", build.BUILD_INFO)

    def copy_extensions_to_source(self):
        super().copy_extensions_to_source()
        package_dir = self.get_finalized_command("build_py").get_package_dir("cosam_ext")
        self.copy_file(self.build_info_path(), os.path.join(package_dir, build.BUILD_INFO))

    def get_outputs(self):
        return super().get_outputs() + [self.build_info_path()]


setup(
    name="cosam_ext",
    version=BUILD_INFO["version"],
    description="COSAM co-segmentation attention for video re-ID: fused C++/CUDA ops",
    # cosam_ext (the op library) and cosam_reid (the pure-Python video re-ID
    # stack under python/) install together; cosam_reid's own dependencies
    # come with the "reid" extra, so the layer alone needs torch and numpy.
    packages=find_packages(include=["cosam_ext", "cosam_ext.*"]) + find_packages("python"),
    package_dir={"cosam_reid": "python/cosam_reid"},
    package_data={"cosam_reid": ["configs/*.yaml", "configs/recipes/*.md", "configs/recipes/*/*.yaml"]},
    entry_points={"console_scripts": ["cosam-reid = cosam_reid.cli:main"]},
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildWithInfo},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
    python_requires=">=3.10",
    # The library loads only into the torch minor version it was built
    # against: pin it, so that pip keeps (or fetches) that one.
    install_requires=[f"torch=={build.major_minor(torch.__version__)}.*", "numpy"],
    extras_require={"reid": REID_REQUIREMENTS, "onnx": ONNX_REQUIREMENTS},
)
