"""Autocast rules of the ops (the compiled ops' CUDA rules are in
csrc/cuda/autocast.cpp)."""
import torch

_LIBRARY = torch.library.Library("cosam", "FRAGMENT")
_NO_CPU_AUTOCAST = torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCPU)


def _to_float32_on_cpu(value):
    """What torch.library.register_autocast(op, "cpu", torch.float32) casts:
    floating CPU tensors other than float64."""
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.device.type == "cpu" \
            and value.dtype != torch.float64:
        return value.float()
    return value


def _register_cpu_float32(name):
    """The AutocastCPU kernel that torch.library.register_autocast(op, "cpu",
    torch.float32) registers, written out: in torch 2.11 that call also
    overrides the op's Python AutocastCUDA kernel, and raises KeyError where
    the op has a C++ one (csrc/cuda/autocast.cpp, the CUDA builds)."""
    op = getattr(torch.ops.cosam, name).default

    def kernel(*args, **kwargs):
        with torch._C._ExcludeDispatchKeyGuard(_NO_CPU_AUTOCAST):
            return op(*map(_to_float32_on_cpu, args), **{key: _to_float32_on_cpu(v) for key, v in kwargs.items()})

    _LIBRARY.impl(name, kernel, "AutocastCPU")


# Under CPU autocast the reduction conv hands over bfloat16 maps while the
# summary weight stays float32: the ops run in float32, the dtype of the
# weights.
for _name in ("ncc_cost_volume", "ncc_summary", "masked_mean", "apply_attention"):
    _register_cpu_float32(_name)
# channel_attention meets the float32 MLP weights: on either device it runs in
# float32, the promoted dtype of its inputs under autocast. (An op defined in
# Python with torch.library.custom_op, so with no C++ autocast kernel.)
for _device in ("cpu", "cuda"):
    torch.library.register_autocast("cosam::channel_attention", _device, torch.float32)
