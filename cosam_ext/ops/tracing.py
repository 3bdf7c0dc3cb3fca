"""How the ops' entry points behave under tracers: torch.fx.symbolic_trace,
which does not run them, and torch.onnx.export, which gets standard ops."""
import functools

import torch
import torch.fx

__all__ = ["fx_leaf", "exporting_to_onnx"]


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


def exporting_to_onnx():
    """Whether torch.onnx.export is running, with either exporter (public API,
    true for the whole call). An ONNX runtime has no cosam ops, so the entry
    points then compute in standard ops (each op module's `composition`), and
    the exported graph holds those."""
    return torch.onnx.is_in_onnx_export()
