"""The ops' argument checks in Python, with the messages of the compiled
ones (csrc/op_checks.h): for the fake kernels, the Python-defined
channel_attention, and ncc_summary's materialised order, which never calls
the compiled ncc_summary. torch._check keeps them valid on symbolic sizes."""
import math

import torch

__all__ = [
    "check_frames", "volume_channels", "check_summary_weight", "check_masked_maps", "check_masked_clips",
    "check_attention", "check_grad_pooled", "check_channel_attention",
]


def _check_maps(x, layout, op):
    """x: a 4-D floating-point batch of maps, `layout` naming its axes."""
    torch._check(
        x.dim() == 4,
        lambda: f"{op}: x must be a 4-D tensor {layout}, got a {x.dim()}-D tensor of shape {list(x.shape)}",
    )
    torch._check(x.is_floating_point(), lambda: f"{op}: x must be a floating-point tensor, got {x.dtype}")


def _check_divisible(x, num_frames, op):
    torch._check(
        x.shape[0] % num_frames == 0,
        lambda: f"{op}: x.size(0) = {x.shape[0]} (B*N) is not divisible by num_frames = {num_frames}",
    )


def _check_on_device_of_x(t, x, name, op):
    torch._check(t.device == x.device, lambda: f"{op}: {name} is on {t.device} but x is on {x.device}")


def _check_like_x(t, x, name, op):
    # Under autocast the dtypes meet only in the op's autocast kernel.
    if not torch.is_autocast_enabled(x.device.type):
        torch._check(t.dtype == x.dtype, lambda: f"{op}: {name} dtype {t.dtype} does not match x dtype {x.dtype}")
    _check_on_device_of_x(t, x, name, op)


def check_frames(x, num_frames, eps, op):
    """x: reduced maps (B*N, D, H, W), clip-major, for the NCC ops."""
    _check_maps(x, "(B*N, D, H, W)", op)
    torch._check(
        num_frames >= 2,
        lambda: f"{op}: num_frames must be >= 2 (the NCC compares each frame with the others of its clip), "
        f"got {num_frames}",
    )
    _check_divisible(x, num_frames, op)
    torch._check(x.shape[1] >= 2, lambda: f"{op}: x must have at least 2 channels (D) for the unbiased std, "
                 f"got {x.shape[1]}")
    torch._check(x.shape[2] >= 1 and x.shape[3] >= 1,
                 lambda: f"{op}: x must have a non-empty H x W map, got {x.shape[2]}x{x.shape[3]}")
    torch._check(math.isfinite(eps) and eps >= 0, lambda: f"{op}: eps must be finite and >= 0, got {eps}")


def volume_channels(x, num_frames):
    """Channels of the cost volume of x, and input channels of the summary conv: (N-1)*H*W."""
    return (num_frames - 1) * x.shape[2] * x.shape[3]


def check_summary_weight(x, weight, bias, num_frames, op):
    """weight: (K, (N-1)*H*W) or (K, (N-1)*H*W, 1, 1); bias: (K,) or None."""
    is_conv_weight = weight.dim() == 4 and weight.shape[2] == 1 and weight.shape[3] == 1
    torch._check(
        weight.dim() == 2 or is_conv_weight,
        lambda: f"{op}: weight must have shape (K, (N-1)*H*W) or (K, (N-1)*H*W, 1, 1), got {list(weight.shape)}",
    )
    torch._check(weight.shape[0] >= 1, lambda: f"{op}: weight must have K >= 1 output channels")
    expected = volume_channels(x, num_frames)
    torch._check(
        weight.shape[1] == expected,
        lambda: f"{op}: weight.size(1) must be (N-1)*H*W = {expected} for num_frames = {num_frames} and a "
        f"{x.shape[2]}x{x.shape[3]} map, got {weight.shape[1]}",
    )
    _check_like_x(weight, x, "weight", op)
    if bias is not None:
        torch._check(
            bias.dim() == 1 and bias.shape[0] == weight.shape[0],
            lambda: f"{op}: bias must have shape (K) = ({weight.shape[0]}), got {list(bias.shape)}",
        )
        _check_like_x(bias, x, "bias", op)


def check_masked_maps(x, spatial_mask, op):
    """x (B*N, C, H, W) and the spatial mask (B*N, 1, H, W) that weights its positions."""
    _check_maps(x, "(B*N, C, H, W)", op)
    expected = (x.shape[0], 1, *x.shape[2:])
    torch._check(
        spatial_mask.shape == expected,
        lambda: f"{op}: spatial_mask must have shape (B*N, 1, H, W) = {expected}, got {list(spatial_mask.shape)}",
    )
    _check_like_x(spatial_mask, x, "spatial_mask", op)


def _check_clip_frames(x, num_frames, op):
    torch._check(num_frames >= 1, lambda: f"{op}: num_frames must be >= 1, got {num_frames}")
    _check_divisible(x, num_frames, op)


def check_masked_clips(x, spatial_mask, num_frames, op):
    """check_masked_maps, in clips of num_frames frames."""
    check_masked_maps(x, spatial_mask, op)
    _check_clip_frames(x, num_frames, op)


def check_attention(x, spatial_mask, channel_mask, num_frames, op):
    """check_masked_clips, and channel_mask (B, C): one mask per clip of num_frames frames."""
    check_masked_clips(x, spatial_mask, num_frames, op)
    expected = (x.shape[0] // num_frames, x.shape[1])
    torch._check(
        channel_mask.shape == expected,
        lambda: f"{op}: channel_mask must have shape (B, C) = {expected}, got {list(channel_mask.shape)}",
    )
    _check_like_x(channel_mask, x, "channel_mask", op)


def check_grad_pooled(grad_pooled, x, op):
    """None, or the gradient of the pooled statistic mean_p(x * spatial_mask), (B*N, C)."""
    if grad_pooled is None:
        return
    expected = tuple(x.shape[:2])
    torch._check(
        tuple(grad_pooled.shape) == expected,
        lambda: f"{op}: grad_pooled must have shape (B*N, C) = {expected}, got {list(grad_pooled.shape)}",
    )
    _check_like_x(grad_pooled, x, "grad_pooled", op)


def check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames, op):
    """x (B*N, C, H, W), its spatial mask or None, and the authors' two Linear
    layers C -> D -> C, floating, of one dtype: the MLP runs in it, which may
    differ from x's (float32 weights with a half x, as autocast gives them)."""
    if spatial_mask is None:
        _check_maps(x, "(B*N, C, H, W)", op)
    else:
        check_masked_maps(x, spatial_mask, op)
    _check_clip_frames(x, num_frames, op)
    torch._check(
        weight1.is_floating_point(), lambda: f"{op}: weight1 must be a floating-point tensor, got {weight1.dtype}"
    )
    channels, reduced = x.shape[1], weight1.shape[0]
    for name, tensor, shape in (
        ("weight1", weight1, (reduced, channels)),
        ("bias1", bias1, (reduced,)),
        ("weight2", weight2, (channels, reduced)),
        ("bias2", bias2, (channels,)),
    ):
        torch._check(
            tensor.shape == shape,
            lambda: f"{op}: {name} must have shape {shape} for x with C = {channels}, got {tuple(tensor.shape)}",
        )
        torch._check(
            tensor.dtype == weight1.dtype,
            lambda: f"{op}: {name} dtype {tensor.dtype} does not match weight1 dtype {weight1.dtype}",
        )
        _check_on_device_of_x(tensor, x, name, op)
