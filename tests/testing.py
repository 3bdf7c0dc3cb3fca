"""Shared helpers of the test-suite: devices, dtypes, tolerances, inputs."""
import torch

DTYPES = (torch.float32, torch.float64)

#: (B, N, D, H, W, K) of the op tests on every device: H != W, P = 1, N = 2
#: and 8, D not a multiple of 32 (nor of 8), B = 1, K = 1, and P = 40 and 77,
#: which span several 32-position tiles of the CUDA normalisation kernels
#: without filling the last one, and exceed one position block of the CPU
#: kernels without being a multiple of it.
OP_SHAPES = [
    (2, 4, 16, 4, 3, 8),
    (1, 2, 7, 1, 1, 3),
    (2, 8, 9, 2, 3, 5),
    (3, 3, 33, 5, 8, 1),
    (1, 3, 70, 11, 7, 4),
]


def shape_id(shape):
    return "B{}N{}D{}H{}W{}K{}".format(*shape)

#: (rtol, atol) for comparisons against the reference, by dtype.
TOLERANCES = {torch.float32: (1e-4, 2e-5), torch.float64: (1e-10, 1e-12)}


def assert_close(actual, expected, dtype=None):
    rtol, atol = TOLERANCES[dtype or expected.dtype]
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def assert_close_to_position_scale(actual, expected, where=None, dim=1):
    """assert_close with each element's rtol taken relative to the largest
    |expected| of its position (its values along dim, the D channels) rather
    than to the element itself; where, if given, masks the elements compared.

    For gradients at positions whose std is 0 or near it: there
    dx_d = (dz_d - mean(dz)) / (std + eps), every element carries the rounding
    of its position's sums amplified by up to 1/eps, and an element that
    cancels to much less than its neighbours has a large error relative to
    itself in any floating-point implementation, the reference included.
    """
    rtol, atol = TOLERANCES[expected.dtype]
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    where = torch.ones_like(expected, dtype=torch.bool) if where is None else where
    scale = torch.where(where, expected.abs(), 0).amax(dim=dim, keepdim=True)
    excess = (actual - expected).abs() / (atol + rtol * scale)
    worst = torch.where(where, excess, 0).max().item()
    assert worst <= 1, f"error {worst:.3g}x the allowance atol + rtol * max|expected| of the position"


def frames(clips, num_frames, channels, height, width, dtype=torch.float64, **kwargs):
    """Random clip-major reduced features (B*N, D, H, W)."""
    return torch.randn(clips * num_frames, channels, height, width, dtype=dtype, **kwargs)


def summary_params(num_frames, height, width, out_channels, dtype=torch.float64, **kwargs):
    """Random weight ((K, (N-1)*H*W)) and bias ((K,)) of a summary conv."""
    weight = torch.randn(out_channels, (num_frames - 1) * height * width, dtype=dtype, **kwargs)
    bias = torch.randn(out_channels, dtype=dtype, **kwargs)
    return weight, bias


def randomise_batch_norms(module):
    """Random affine parameters and running statistics in every BatchNorm2d
    of module, so that a test sees them used; returns module."""
    for child in module.modules():
        if isinstance(child, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(child.weight, 0.5, 1.5)
            torch.nn.init.normal_(child.bias, std=0.5)
            torch.nn.init.normal_(child.running_mean, std=0.2)
            torch.nn.init.uniform_(child.running_var, 0.5, 2.0)
    return module


def autocast_cases(device, half):
    """[(id, call, dtypes expected of its outputs)] of every op under
    torch.autocast(device, half): the rules of cosam_ext/ops/autocast.py,
    written out per device. call() builds float32 (or float64) inputs on
    device and runs the op, under autocast, on the dtypes its id names."""
    from cosam_ext import ops

    def maps(dtype, channels=6):
        return torch.randn(6, channels, 3, 2, device=device).to(dtype)

    def masks(dtype):
        return torch.rand(6, 1, 3, 2, device=device).to(dtype), torch.rand(2, 6, device=device).to(dtype)

    def summary_weights(dtype):
        return [t.to(device, dtype) for t in summary_params(3, 3, 2, 4)]

    def mlp(dtype):
        return [torch.randn(*shape, device=device).to(dtype) for shape in ((4, 6), (4,), (6, 4), (6,))]

    return [
        ("ncc_summary half x float32 weight", lambda: ops.ncc_summary(maps(half), *summary_weights(torch.float32), 3),
         [half]),
        ("ncc_summary all half", lambda: ops.ncc_summary(maps(half), *summary_weights(half), 3), [half]),
        ("ncc_cost_volume half", lambda: ops.ncc_cost_volume(maps(half), 3), [half]),
        ("ncc_cost_volume float64", lambda: ops.ncc_cost_volume(maps(torch.float64), 3), [torch.float64]),
        ("masked_mean half x float32 mask", lambda: ops.masked_mean(maps(half), masks(torch.float32)[0]),
         [torch.float32]),
        ("masked_mean all half", lambda: ops.masked_mean(maps(half), masks(half)[0]), [half]),
        ("apply_attention half x float32 masks",
         lambda: ops.apply_attention(maps(half), *masks(torch.float32), 3), [torch.float32]),
        ("apply_attention all half", lambda: ops.apply_attention(maps(half), *masks(half), 3), [half]),
        # out in x's and the mask's promoted dtype; the channel mask from the float32 MLP.
        ("channel_attention half x and mask float32 weights",
         lambda: ops.channel_attention(maps(half), masks(half)[0], *mlp(torch.float32), 3), [half, torch.float32]),
        ("channel_attention all half", lambda: ops.channel_attention(maps(half), masks(half)[0], *mlp(half), 3),
         [half, torch.float32]),
        ("channel_attention half x float32 mask",
         lambda: ops.channel_attention(maps(half), masks(torch.float32)[0], *mlp(torch.float32), 3),
         [torch.float32, torch.float32]),
        ("channel_attention half x no mask", lambda: ops.channel_attention(maps(half), None, *mlp(torch.float32), 3),
         [half, torch.float32]),
    ]
