"""Shape checks of the ops' arguments in Python, for the fake kernels and the
Python-defined op (the compiled ops check theirs in csrc/op_checks.h).
torch._check keeps them valid on symbolic sizes."""
import torch

__all__ = ["check_frames", "volume_shape", "check_masked_maps", "check_attention", "check_channel_attention"]


def check_frames(x, num_frames):
    torch._check(x.dim() == 4, lambda: f"x must be 4-D (B*N, D, H, W), got {x.dim()}-D")
    torch._check(num_frames >= 2, lambda: f"num_frames must be >= 2, got {num_frames}")
    _check_divisible(x, num_frames)


def _check_divisible(x, num_frames):
    torch._check(
        x.shape[0] % num_frames == 0,
        lambda: f"x.size(0) = {x.shape[0]} is not divisible by num_frames = {num_frames}",
    )


def volume_shape(x, num_frames):
    n_frames, _, height, width = x.shape
    return (n_frames, (num_frames - 1) * height * width, height, width)


def check_masked_maps(x, spatial_mask):
    torch._check(x.dim() == 4, lambda: f"x must be 4-D (B*N, C, H, W), got {x.dim()}-D")
    torch._check(
        spatial_mask.shape == (x.shape[0], 1, *x.shape[2:]),
        lambda: f"spatial_mask must have shape (B*N, 1, H, W), got {tuple(spatial_mask.shape)}",
    )


def check_attention(x, spatial_mask, channel_mask, num_frames):
    check_masked_maps(x, spatial_mask)
    _check_divisible(x, num_frames)
    torch._check(
        channel_mask.shape == (x.shape[0] // num_frames, x.shape[1]),
        lambda: f"channel_mask must have shape (B, C), got {tuple(channel_mask.shape)}",
    )


def check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    torch._check(x.dim() == 4, lambda: f"x must be 4-D (B*N, C, H, W), got {x.dim()}-D")
    if spatial_mask is not None:
        check_masked_maps(x, spatial_mask)
    torch._check(num_frames >= 1, lambda: f"num_frames must be >= 1, got {num_frames}")
    _check_divisible(x, num_frames)
    channels, reduced = x.shape[1], weight1.shape[0]
    for name, tensor, shape in (
        ("weight1", weight1, (reduced, channels)),
        ("bias1", bias1, (reduced,)),
        ("weight2", weight2, (channels, reduced)),
        ("bias2", bias2, (channels,)),
    ):
        torch._check(
            tensor.shape == shape,
            lambda: f"{name} must have shape {shape} for x with C = {channels}, got {tuple(tensor.shape)}",
        )
