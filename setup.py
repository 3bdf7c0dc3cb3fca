"""Build of cosam_ext and its compiled operator library cosam_ext._C.

Build against the torch that is already installed:

    pip install --no-build-isolation -e .

(without --no-build-isolation pip builds in a fresh environment with whatever
torch it downloads there, and the extension then fails to load beside yours).

Environment switches:
    FORCE_CUDA=1      build the CUDA kernels even when no GPU is visible
    FORCE_ONLY_CPU=1  build the CPU kernels only
    DEBUG=1           -O0 -g
"""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
DEBUG = os.getenv("DEBUG", "0") == "1"


def cpu_sources():
    return sorted(glob.glob(os.path.join("csrc", "*.cpp"))) + sorted(
        glob.glob(os.path.join("csrc", "cpu", "*.cpp"))
    )


def extension():
    # ATen's parallel_for is header-inlined OpenMP in the torch wheels: without
    # -fopenmp the CPU kernels would silently run on one thread.
    cxx = ["-O0", "-g"] if DEBUG else ["-O3"]
    cxx += ["-fopenmp", "-DPy_LIMITED_API=0x03090000"]
    return CppExtension(
        name="cosam_ext._C",
        sources=cpu_sources(),
        extra_compile_args={"cxx": cxx},
        extra_link_args=["-fopenmp"],
        py_limited_api=True,
    )


setup(
    name="cosam_ext",
    version="0.1.0",
    description="COSAM co-segmentation attention for video re-ID: fused C++/CUDA ops",
    packages=find_packages(include=["cosam_ext", "cosam_ext.*"]),
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
    python_requires=">=3.9",
    install_requires=["torch>=2.4", "numpy"],
)
