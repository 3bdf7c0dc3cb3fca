"""The ops' autocast rules, one table for both devices, and their
registration (the AutocastCPU and AutocastCUDA kernels of every cosam op).

A rule names the dtype in which an op's floating inputs meet under
torch.autocast; float64 inputs are left alone, as autocast does. The op then
runs below autocast on its inputs so cast.

    autocast dtype   the region's dtype (float16 or bfloat16), as for conv
                     and matmul
    promoted         the promoted dtype of the inputs, as for torch.mul
    float32          float32
    promoted maps    x and spatial_mask in their promoted dtype, the other
                     floating inputs (weights) in float32
"""
import torch

__all__ = ["AUTOCAST_RULES", "cast_inputs", "register"]

AUTOCAST_DTYPE, PROMOTED, FLOAT32, PROMOTED_MAPS = "autocast dtype", "promoted", "float32", "promoted maps"
#: The arguments that PROMOTED_MAPS promotes.
_MAPS = ("x", "spatial_mask")

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
        PROMOTED_MAPS, PROMOTED_MAPS,
        "x and its mask meet as in apply_attention, so a half map is neither copied to float32 nor doubled "
        "in its output; only the pooled statistic (B*N, C) and the channel MLP run in float32 (its weights' "
        "dtype), whose sigmoid masks are kept in float32, as the authors' Linear layers give them outside "
        "autocast",
    ),
}

_DISPATCH_KEYS = {"cpu": "AutocastCPU", "cuda": "AutocastCUDA"}


def _promoted(values):
    """The promoted dtype of the floating tensors among values (None if none)."""
    dtype = None
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            dtype = v.dtype if dtype is None else torch.promote_types(dtype, v.dtype)
    return dtype


def _rule_dtypes(rule, device_type, named):
    """{name: dtype} that `rule` casts the floating tensors among named ({argument name: value}) to."""
    if rule == PROMOTED_MAPS:
        maps = _promoted(v for name, v in named.items() if name in _MAPS)
        return {name: maps if name in _MAPS else torch.float32 for name in named}
    if rule == AUTOCAST_DTYPE:
        dtype = torch.get_autocast_dtype(device_type)
    elif rule == FLOAT32:
        dtype = torch.float32
    else:
        dtype = _promoted(named.values())
    return dict.fromkeys(named, dtype)


def _cast(value, dtype):
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float64:
        return value.to(dtype)
    return value


def _cast_named(rule, device_type, named):
    dtypes = _rule_dtypes(rule, device_type, named)
    return {name: _cast(value, dtypes[name]) for name, value in named.items()}


def _argument_names(name):
    return [argument.name for argument in getattr(torch.ops.cosam, name).default._schema.arguments]


def cast_inputs(name, device_type, *args):
    """args as op `name`'s rule casts them under the autocast region active on
    device_type (unchanged outside one): for code that computes an op in
    other ops, such as ncc_summary's materialised order, and must give the
    dtypes the op gives."""
    if not torch.is_autocast_enabled(device_type):
        return args
    rule = AUTOCAST_RULES[name][0 if device_type == "cpu" else 1]
    return tuple(_cast_named(rule, device_type, dict(zip(_argument_names(name), args))).values())


def _register(library, name, rule, device_type):
    op = getattr(torch.ops.cosam, name).default
    key = _DISPATCH_KEYS[device_type]
    excluded = torch._C.DispatchKeySet(getattr(torch._C.DispatchKey, key))
    names = _argument_names(name)

    def kernel(*args, **kwargs):
        cast = _cast_named(rule, device_type, {**dict(zip(names, args)), **kwargs})
        with torch._C._ExcludeDispatchKeyGuard(excluded):
            return op(**cast)

    library.impl(name, kernel, key)


_LIBRARY = torch.library.Library("cosam", "FRAGMENT")


def register():
    """Registers every rule as the op's AutocastCPU and AutocastCUDA kernel
    (once every op is defined)."""
    for name, (cpu_rule, cuda_rule, _) in AUTOCAST_RULES.items():
        _register(_LIBRARY, name, cpu_rule, "cpu")
        _register(_LIBRARY, name, cuda_rule, "cuda")
