"""The cosam custom ops (the package's __init__ has loaded the compiled
library): their Python entry points and what torch.library wants from Python.

The schemas are in csrc/ops.cpp and the kernels in csrc/<backend>/. Here:

    functions.py             the entry points (ncc_summary, ...)
    dispatch.py              ncc_summary's choice of contraction order
    channel_attention_op.py  cosam::channel_attention, defined in Python
    checks.py, fake.py       fake kernels, for torch.compile and torch.export
    autograd.py              the backward formulas
    autocast.py              autocast rules
    composite.py             the ops in standard ops, for export
    decompositions.py        those as decompositions (ONNX export)
    tracing.py               behaviour under torch.fx and TorchScript tracing
"""
# The package's __init__ has already checked the build against the running
# torch and loaded the library; this import only names the dependency.
from .. import _C  # noqa: F401  (registers torch.ops.cosam.*)
from . import channel_attention_op  # noqa: F401  (defines cosam::channel_attention: first)
from . import autocast, autograd, fake  # noqa: F401  (registrations)
from .decompositions import decompositions, onnx_decompositions
from .dispatch import MATERIALISE_BELOW, materialising_is_cheaper
from .functions import DEFAULT_EPS, apply_attention, channel_attention, masked_mean, ncc_cost_volume, ncc_summary

__all__ = [
    "ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention", "channel_attention", "DEFAULT_EPS",
    "MATERIALISE_BELOW", "materialising_is_cheaper", "decompositions", "onnx_decompositions",
]
