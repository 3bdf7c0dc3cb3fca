"""cosam_ext: the COSAM co-segmentation attention layer with fused C++/CUDA ops.

    from cosam_ext import CosamLayer
    layer = CosamLayer(in_channels=1024, num_frames=4, spatial_size=(16, 8))
    out = layer(feats)  # (B*N, C, H, W) clip-major, or (B, N, C, H, W)
"""
from . import ops, reference
from .layer import CosamLayer, CosamOutput
from .ops import apply_attention, ncc_cost_volume, ncc_summary

__all__ = [
    "CosamLayer", "CosamOutput", "apply_attention", "ncc_cost_volume", "ncc_summary", "ops", "reference",
]
__version__ = "0.1.0"
