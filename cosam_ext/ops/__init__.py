"""The cosam custom ops: one module per op, as csrc/ has one file per op per
backend. The schemas are in csrc/ops.cpp, the kernels in csrc/<backend>/;
each op module holds the op's Python side: its entry point, its fake kernel,
its autograd and its composition in standard ops (what ONNX export gets).

    ncc_cost_volume.py    the materialised NCC cost volume
    ncc_summary.py        the summary conv without the volume; the contraction-order choice
    masked_mean.py        the channel attention's pooling of the masked maps
    apply_attention.py    the layer's output from its masks
    channel_attention.py  the channel branch and the output, the one op defined in Python

and what they share, once each: ncc.py (the epsilon, the normalisation and
the slot order, which the oracle uses too), checks.py (argument checks),
autocast.py (the autocast rules of every op on each device) and tracing.py
(behaviour under torch.fx and torch.onnx.export).
"""
import torch

# The package's __init__ has already checked the build against the running
# torch and loaded the library; this import only names the dependency.
from .. import _C  # noqa: F401  (registers torch.ops.cosam.*)
from . import apply_attention as _apply_attention_module  # noqa: I001  (each name becomes the function below)
from . import channel_attention as _channel_attention_module
from . import masked_mean as _masked_mean_module
from . import ncc_cost_volume as _ncc_cost_volume_module
from . import ncc_summary as _ncc_summary_module
from . import autocast
from .apply_attention import apply_attention
from .channel_attention import channel_attention
from .masked_mean import masked_mean
from .ncc import DEFAULT_EPS
from .ncc_cost_volume import ncc_cost_volume
from .ncc_summary import MATERIALISE_BELOW, materialising_is_cheaper, ncc_summary

__all__ = [
    "ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention", "channel_attention", "DEFAULT_EPS",
    "MATERIALISE_BELOW", "materialising_is_cheaper", "decompositions",
]

autocast.register()

_OP_MODULES = (
    _ncc_cost_volume_module, _ncc_summary_module, _masked_mean_module, _apply_attention_module,
    _channel_attention_module,
)


def decompositions():
    """{OpOverload: composition in standard ops} of the cosam forward ops: the
    table for flows that decompose a graph themselves, e.g.
    `torch.export.export(model, args).run_decompositions(cosam_ext.ops.decompositions())`.
    (torch.onnx.export needs none: while it runs, the ops compute in standard ops.)"""
    return {getattr(torch.ops.cosam, module.OP.split("::")[1]).default: module.composition for module in _OP_MODULES}
