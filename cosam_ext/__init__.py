"""cosam_ext: the COSAM co-segmentation attention layer with fused C++/CUDA ops.

    from cosam_ext import CosamLayer
    layer = CosamLayer(in_channels=1024, num_frames=4, spatial_size=(16, 8))
    out = layer(feats)  # (B*N, C, H, W) clip-major, or (B, N, C, H, W)
"""
from ._build import VERSION, load_library

# Before anything imports cosam_ext._C: a library built for another torch or
# CUDA fails here with one message instead of an undefined symbol.
_build_info = load_library()

from . import ops, reference  # noqa: E402
from .layer import CosamLayer, CosamOutput  # noqa: E402
from .ops import apply_attention, channel_attention, masked_mean, ncc_cost_volume, ncc_summary  # noqa: E402

__all__ = [
    "CosamLayer", "CosamOutput", "apply_attention", "channel_attention", "masked_mean", "ncc_cost_volume",
    "ncc_summary", "ops", "reference",
]
#: With the build's local version label, as pip shows it: 0.1.0+pt213cpu.
__version__ = VERSION if _build_info is None else _build_info["version"]
