"""Shared helpers of the test-suite: devices, dtypes, tolerances, inputs."""
import torch

DTYPES = (torch.float32, torch.float64)

#: (rtol, atol) for comparisons against the reference, by dtype.
TOLERANCES = {torch.float32: (1e-4, 2e-5), torch.float64: (1e-10, 1e-12)}


def assert_close(actual, expected, dtype=None):
    rtol, atol = TOLERANCES[dtype or expected.dtype]
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


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
