"""The ops' autocast rules, one table for both devices, and their
registration (the AutocastCPU and AutocastCUDA kernels of every cosam op).

A rule names the dtype in which an op's floating inputs meet under
torch.autocast; float64 inputs are left alone, as autocast does. The op then
runs below autocast on its inputs so cast.

    autocast dtype   the region's dtype (float16 or bfloat16), as for conv
                     and matmul
    promoted         the promoted dtype of the inputs, as for torch.mul
    float32          float32
"""
import torch

__all__ = ["AUTOCAST_RULES", "cast_inputs", "register"]

AUTOCAST_DTYPE, PROMOTED, FLOAT32 = "autocast dtype", "promoted", "float32"

#: {op: (rule on the CPU, rule on CUDA, why)}.
AUTOCAST_RULES = {
    "ncc_summary": (
        AUTOCAST_DTYPE, AUTOCAST_DTYPE,
        "GEMMs, as conv and matmul: the reduction conv hands over half maps, the summary weight is float32, "
        "and they meet in the autocast dtype, on the CPU too (where it is also the faster: docs/design.md)",
    ),
    "ncc_cost_volume": (AUTOCAST_DTYPE, AUTOCAST_DTYPE, "as ncc_summary, which it serves at tiny maps"),
    "masked_mean": (
        PROMOTED, PROMOTED,
        "a mean of products x * mask: as torch.mul would, so a half map times a float32 mask runs in "
        "float32, and two half inputs stay half",
    ),
    "apply_attention": (PROMOTED, PROMOTED, "x * spatial mask * (1 + channel mask): as torch.mul would"),
    "channel_attention": (
        FLOAT32, FLOAT32,
        "it meets the float32 weights of the channel MLP, whose sigmoid masks are kept in float32: "
        "the dtype the authors' Linear layers give outside autocast",
    ),
}

_DISPATCH_KEYS = {"cpu": "AutocastCPU", "cuda": "AutocastCUDA"}


def _floating(values):
    return [v for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()]


def _rule_dtype(rule, device_type, args):
    """The dtype `rule` casts the floating tensors among args to, on device_type."""
    if rule == AUTOCAST_DTYPE:
        return torch.get_autocast_dtype(device_type)
    if rule == FLOAT32:
        return torch.float32
    dtype = None
    for tensor in _floating(args):
        dtype = tensor.dtype if dtype is None else torch.promote_types(dtype, tensor.dtype)
    return dtype


def _cast(value, dtype):
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float64:
        return value.to(dtype)
    return value


def cast_inputs(name, device_type, *args):
    """args as op `name`'s rule casts them under the autocast region active on
    device_type (unchanged outside one): for code that computes an op in
    other ops, such as ncc_summary's materialised order, and must give the
    dtypes the op gives."""
    if not torch.is_autocast_enabled(device_type):
        return args
    rule = AUTOCAST_RULES[name][0 if device_type == "cpu" else 1]
    dtype = _rule_dtype(rule, device_type, args)
    return tuple(_cast(value, dtype) for value in args)


def _register(library, name, rule, device_type):
    op = getattr(torch.ops.cosam, name).default
    key = _DISPATCH_KEYS[device_type]
    excluded = torch._C.DispatchKeySet(getattr(torch._C.DispatchKey, key))

    def kernel(*args, **kwargs):
        dtype = _rule_dtype(rule, device_type, (*args, *kwargs.values()))
        with torch._C._ExcludeDispatchKeyGuard(excluded):
            return op(*(_cast(v, dtype) for v in args), **{k: _cast(v, dtype) for k, v in kwargs.items()})

    library.impl(name, kernel, key)


_LIBRARY = torch.library.Library("cosam", "FRAGMENT")


def register():
    """Registers every rule as the op's AutocastCPU and AutocastCUDA kernel
    (once every op is defined)."""
    for name, (cpu_rule, cuda_rule, _) in AUTOCAST_RULES.items():
        _register(_LIBRARY, name, cpu_rule, "cpu")
        _register(_LIBRARY, name, cuda_rule, "cuda")
