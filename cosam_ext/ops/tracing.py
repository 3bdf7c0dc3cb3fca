"""How the ops' Python entry points behave under the tracers that do not run
them: torch.fx.symbolic_trace and the TorchScript-based ONNX exporter."""
import functools

import torch
import torch.fx

__all__ = ["fx_leaf", "in_torchscript_onnx_export"]


def _first_proxy(values):
    for value in values:
        if isinstance(value, torch.fx.Proxy):
            return value
    return None


def fx_leaf(fn):
    """Makes fn one call_function node under torch.fx.symbolic_trace instead of
    being traced through: its shape checks and its choice of contraction order
    look at sizes and devices, which a Proxy does not have. The traced graph
    calls fn itself, so both stay decisions of run time."""

    @functools.wraps(fn)
    def traced_or_called(*args, **kwargs):
        proxy = _first_proxy((*args, *kwargs.values()))
        if proxy is not None:
            return proxy.tracer.create_proxy("call_function", traced_or_called, args, kwargs)
        return fn(*args, **kwargs)

    return traced_or_called


def in_torchscript_onnx_export():
    """Whether torch.onnx.export(..., dynamo=False) is tracing the caller. That
    exporter sees the compiled ops as unknown nodes, so the entry points hand
    it their composition of standard ops instead (see composite.py); the
    torch.export-based exporter (dynamo=True) gets the same composition from
    the ops' decompositions and never needs this."""
    return torch.jit.is_tracing() and torch.onnx.is_in_onnx_export()
