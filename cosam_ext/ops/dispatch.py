"""Which contraction order ncc_summary takes: the fused one (no cost volume)
or, on the CPU at tiny maps, conv1x1 over the materialised volume."""

__all__ = ["MATERIALISE_BELOW", "materialising_is_cheaper"]

#: On the CPU, ncc_summary materialises the cost volume where that order
#: needs fewer than this fraction of the fused order's FLOPs (tiny maps).
#: Measured on a 2-core CPU, forward+backward: at FLOP ratio 0.69 (8x4 maps,
#: N = 8, D = 256, K = 64) materialising took 0.78x the fused time, at 0.40
#: (16x8, N = 4) it took 1.7x.
MATERIALISE_BELOW = 1 / 0.55


def materialising_is_cheaper(x, out_channels, num_frames):
    """Whether conv1x1 over the materialised volume beats the fused order for
    x (B*N, D, H, W) on its device: per frame, the fused order costs about
    3 K P D multiply-adds, the materialised one (N-1) P^2 (D + K). The batch
    size does not enter: a graph traced with a dynamic batch keeps one order."""
    if x.device.type != "cpu" or x.dim() != 4:
        return False
    channels, positions = x.shape[1], x.shape[2] * x.shape[3]
    fused = 3 * out_channels * positions * channels
    materialised = (num_frames - 1) * positions**2 * (channels + out_channels)
    return materialised < fused * MATERIALISE_BELOW
