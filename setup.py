"""Build of cosam_ext and its compiled operator library cosam_ext._C.

Build against the torch that is already installed:

    pip install --no-build-isolation -e .

(without --no-build-isolation pip builds in a fresh environment with whatever
torch it downloads there, and the extension then fails to load beside yours).

Environment switches (by default the CUDA kernels are built when torch is a
CUDA build and a CUDA toolkit is found, the CPU kernels alone otherwise):
    FORCE_CUDA=1      build the CUDA kernels even when no GPU is visible
    FORCE_ONLY_CPU=1  build the CPU kernels only
    TORCH_CUDA_ARCH_LIST="8.0;8.6;9.0"  GPU architectures (this default)
    DEBUG=1           -O0 -g
"""
import glob
import os

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
DEBUG = os.getenv("DEBUG", "0") == "1"


def with_cuda():
    if os.getenv("FORCE_ONLY_CPU", "0") == "1":
        return False
    if os.getenv("FORCE_CUDA", "0") == "1":
        return True
    # The CPU torch wheel cannot compile .cu files (it lacks the CUDA headers
    # of c10), so a toolkit alone is not enough.
    return CUDA_HOME is not None and torch.version.cuda is not None


def cpu_sources():
    return sorted(glob.glob(os.path.join("csrc", "*.cpp"))) + sorted(
        glob.glob(os.path.join("csrc", "cpu", "*.cpp"))
    )


def cuda_sources():
    return sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu"))) + sorted(
        glob.glob(os.path.join("csrc", "cuda", "*.cpp"))
    )


def extension():
    # ATen's parallel_for is header-inlined OpenMP in the torch wheels: without
    # -fopenmp the CPU kernels would silently run on one thread.
    cxx = ["-O0", "-g"] if DEBUG else ["-O3"]
    cxx += ["-fopenmp", "-DPy_LIMITED_API=0x03090000"]
    Extension, sources, compile_args = CppExtension, cpu_sources(), {"cxx": cxx}
    if with_cuda():
        # Without a visible GPU torch cannot pick the architectures itself.
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;8.6;9.0")
        compile_args["nvcc"] = ["-O0", "-g"] if DEBUG else ["-O3"]
        Extension, sources = CUDAExtension, sources + cuda_sources()
    return Extension(
        name="cosam_ext._C",
        sources=sources,
        extra_compile_args=compile_args,
        extra_link_args=["-fopenmp"],
        py_limited_api=True,
    )


setup(
    name="cosam_ext",
    version="0.1.0",
    description="COSAM co-segmentation attention for video re-ID: fused C++/CUDA ops",
    # cosam_ext (the op library) and cosam_reid (the pure-Python video re-ID
    # stack under python/) install together.
    packages=find_packages(include=["cosam_ext", "cosam_ext.*"]) + find_packages("python"),
    package_dir={"cosam_reid": "python/cosam_reid"},
    package_data={"cosam_reid": ["configs/*.yaml", "configs/recipes/*.md", "configs/recipes/*/*.yaml"]},
    entry_points={"console_scripts": ["cosam-reid = cosam_reid.cli:main"]},
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
    python_requires=">=3.9",
    install_requires=["torch>=2.4", "numpy", "pillow", "scipy", "tqdm", "pyyaml"],
)
