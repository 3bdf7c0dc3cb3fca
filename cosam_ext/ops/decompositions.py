"""The ops' decompositions into standard ops (composite.py), for exporters
that take a decomposition table.

`with onnx_decompositions(): torch.onnx.export(..., dynamo=True)` exports a
graph with cosam ops to ONNX in standard ops only: for the duration they
join torch._decomp's global table, which that exporter merges into its own.
Only for the duration: a custom op with a global decomposition makes
torch.compile's inductor refuse to fall back to the compiled op (it raises
where the CI environment variable is set), and torch.compile and
torch.export keep the compiled ops. `decompositions()` gives the table for
other flows, e.g. `exported_program.run_decompositions(decompositions())`.
"""
import contextlib

import torch
import torch._decomp

from . import composite

__all__ = ["decompositions", "onnx_decompositions"]


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


@contextlib.contextmanager
def onnx_decompositions():
    """While active, torch.onnx.export(..., dynamo=True) decomposes the cosam
    ops into standard ONNX-exportable ops; the global table is restored after."""
    table = torch._decomp.decomposition_table
    added = {op: fn for op, fn in decompositions().items() if op not in table}
    table.update(added)
    try:
        yield
    finally:
        for op in added:
            table.pop(op, None)
