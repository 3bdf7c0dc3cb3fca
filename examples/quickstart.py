"""Quick start: COSAM after the third block of a ResNet50 (1024 channels,
16x8 maps for 256x128 frames), on 8 clips of 4 frames.

Runs the layer on the fused ops and on the authors' reference formulation with
the same parameters, and prints the masks' shapes, the largest difference and
the forward+backward time of each.
"""
import time

import torch

from cosam_ext import CosamLayer


def forward_backward_seconds(layer, feats, repeats=3):
    times = []
    for _ in range(repeats):
        feats = feats.detach().requires_grad_(True)
        start = time.perf_counter()
        layer(feats).square().mean().backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main():
    torch.manual_seed(0)
    clips, num_frames = 8, 4
    layer = CosamLayer(in_channels=1024, num_frames=num_frames, spatial_size=(16, 8))
    feats = torch.randn(clips, num_frames, 1024, 16, 8)

    out, spatial_mask, channel_mask = layer(feats, return_masks=True)
    print(layer)
    print(f"input {tuple(feats.shape)} -> output {tuple(out.shape)}")
    print(f"spatial mask {tuple(spatial_mask.shape)}, channel mask {tuple(channel_mask.shape)}")

    layer.implementation = "reference"
    expected = layer(feats)
    print(f"largest difference, fused vs reference: {(out - expected).abs().max().item():.2e}")

    for implementation in ("reference", "fused"):
        layer.implementation = implementation
        seconds = forward_backward_seconds(layer, feats)
        print(f"{implementation:>9}: forward+backward {seconds * 1e3:.1f} ms (median of 3)")


if __name__ == "__main__":
    main()
