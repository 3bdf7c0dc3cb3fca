"""python -m cosam_ext.info: what cosam_ext was built for, beside the torch
and the GPUs it runs with.

Where the build does not match the running torch, `import cosam_ext` (which
this runs first) fails instead, with both sides in its message.
"""
import os

import torch

import cosam_ext

from ._build import arch_coverage, read_build_info

BUILD_KEYS = ("torch", "cuda", "cuda_arch_list", "cxx11_abi", "compiler", "nvcc")
DISPATCH_KEYS = ("CPU", "CUDA", "AutocastCPU", "AutocastCUDA")


def registered_kernels():
    """{dispatch key: the cosam ops with a kernel for it}."""
    ops = sorted(name for name in torch._C._dispatch_get_all_op_names() if name.startswith("cosam::"))
    return {
        key: [op[len("cosam::"):] for op in ops if torch._C._dispatch_has_kernel_for_dispatch_key(op, key)]
        for key in DISPATCH_KEYS
    }


def gpu_lines(info):
    if not torch.cuda.is_available():
        return ["  none visible"]
    lines = []
    for index in range(torch.cuda.device_count()):
        capability = torch.cuda.get_device_capability(index)
        if info is None or info["cuda"] is None:
            runs = "no cosam CUDA kernels in this build"
        else:
            coverage = arch_coverage(info["cuda_arch_list"], capability)
            runs = f"cosam kernels: {coverage}" if coverage else "NO cosam kernel image for it: rebuild with its arch"
        lines.append(f"  cuda:{index} {torch.cuda.get_device_name(index)} (sm_{capability[0]}{capability[1]}): {runs}")
    return lines


def report():
    info = read_build_info()
    lines = [f"cosam_ext {cosam_ext.__version__} at {os.path.dirname(cosam_ext.__file__)}", "built for:"]
    if info is None:
        lines.append("  unknown: no build metadata (a library not built by setup.py)")
    else:
        lines += [f"  {key:<15}{'-' if info[key] is None else info[key]}" for key in BUILD_KEYS]
    lines += [
        "running:",
        f"  {'torch':<15}{torch.__version__}",
        f"  {'cuda':<15}{torch.version.cuda or '- (a CPU build of torch)'}",
        f"  {'cxx11_abi':<15}{bool(torch._C._GLIBCXX_USE_CXX11_ABI)}",
        "kernels registered:",
    ]
    lines += [f"  {key:<15}{', '.join(ops) or '-'}" for key, ops in registered_kernels().items()]
    return "\n".join(lines + ["GPUs:"] + gpu_lines(info))


if __name__ == "__main__":
    print(report())
