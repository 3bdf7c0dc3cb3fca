"""The ops' decompositions into standard ops (composite.py), for exporters
that take a decomposition table.

On import they join torch._decomp's global table, which
torch.onnx.export(..., dynamo=True) merges into its own: a graph with cosam
ops then exports to ONNX with standard ops only, with nothing passed by
hand. torch.export and torch.compile keep the compiled ops (their default
tables do not include these). `decompositions()` gives the table for other
flows, e.g. `exported_program.run_decompositions(decompositions())`.
"""
import torch
import torch._decomp

from . import composite

__all__ = ["decompositions"]


def decompositions():
    """{OpOverload: composition of standard ops} for the cosam forward ops."""
    ops = torch.ops.cosam
    return {
        ops.ncc_cost_volume.default: composite.ncc_cost_volume,
        ops.ncc_summary.default: composite.ncc_summary,
        ops.masked_mean.default: composite.masked_mean,
        ops.apply_attention.default: composite.apply_attention,
        ops.channel_attention.default: composite.channel_attention,
    }


torch._decomp.decomposition_table.update(decompositions())
