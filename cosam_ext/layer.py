"""CosamLayer: the co-segmentation attention layer as an nn.Module."""
from typing import NamedTuple, Optional

import torch
from torch import nn

from . import reference
from .ops import DEFAULT_EPS, channel_attention, ncc_summary

__all__ = ["CosamLayer", "CosamOutput"]

ATTENTIONS = ("both", "spatial", "channel")
SUMMARY_HEADS = ("authors", "paper")
IMPLEMENTATIONS = ("fused", "reference")

#: Width of the hidden layer of the authors' summary head.
SUMMARY_WIDTH = 64


class CosamOutput(NamedTuple):
    output: torch.Tensor
    #: (B*N, 1, H, W), or (B, N, 1, H, W) for a 5-D input; None without spatial attention.
    spatial_mask: Optional[torch.Tensor]
    #: (B, C), one mask per clip; None without channel attention.
    channel_mask: Optional[torch.Tensor]


def default_reduced_channels(in_channels):
    """The authors' reduction width: 256, or 64 for inputs of 256 channels or fewer."""
    return 256 if in_channels > 256 else 64


class CosamLayer(nn.Module):
    """COSAM (Subramaniam, Nambiar, Mittal, ICCV 2019), as in the authors'
    released code.

    Args:
        in_channels: C of the input maps.
        num_frames: N, frames per clip. Inputs are clip-major (B*N, C, H, W),
            frame n of clip b at row b*N + n, or (B, N, C, H, W).
        spatial_size: (H, W) of the input maps; the summary conv is built for it.
        attention: "both" (default), "spatial" or "channel".
        summary_head: "authors" (conv -> BN -> ReLU -> conv, the released code,
            default) or "paper" (a single conv, the paper's pseudo-code).
        reduced_channels: D; default 256, or 64 when in_channels <= 256.
        eps: added to the NCC standard deviation (default 1e-4).
        implementation: "fused" (the cosam ops, default) or "reference" (the
            authors' formulation with the materialised cost volume). It can be
            switched on a built layer: both use the same parameters.

    The parameter names are the authors' (`dim_reduction`,
    `spatial_mask_summary`, `channelwise_attention`), so their state_dicts load
    as they are. Where the input needs a gradient, outside autocast, the fused
    layer applies dim_reduction's conv itself (same weights, see `_reduce`):
    forward hooks on dim_reduction and its conv do not fire then.
    """

    def __init__(
        self,
        in_channels,
        num_frames,
        spatial_size,
        *,
        attention="both",
        summary_head="authors",
        reduced_channels=None,
        eps=DEFAULT_EPS,
        implementation="fused",
    ):
        super().__init__()
        _check_choice("attention", attention, ATTENTIONS)
        _check_choice("summary_head", summary_head, SUMMARY_HEADS)
        _check_choice("implementation", implementation, IMPLEMENTATIONS)
        if num_frames < 2:
            raise ValueError(f"CosamLayer: num_frames must be >= 2, got {num_frames}")
        height, width = spatial_size
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.spatial_size = (height, width)
        self.attention = attention
        self.summary_head = summary_head
        self.reduced_channels = reduced_channels or default_reduced_channels(in_channels)
        self.eps = eps
        self.implementation = implementation

        self.dim_reduction = None
        self.spatial_mask_summary = None
        self.channelwise_attention = None
        if attention in ("both", "spatial"):
            d = self.reduced_channels
            self.dim_reduction = nn.Sequential(
                nn.Conv2d(in_channels, d, kernel_size=1), nn.BatchNorm2d(d), nn.ReLU()
            )
            volume_channels = (num_frames - 1) * height * width
            if summary_head == "authors":
                self.spatial_mask_summary = nn.Sequential(
                    nn.Conv2d(volume_channels, SUMMARY_WIDTH, kernel_size=1),
                    nn.BatchNorm2d(SUMMARY_WIDTH),
                    nn.ReLU(),
                    nn.Conv2d(SUMMARY_WIDTH, 1, kernel_size=1),
                )
            else:
                self.spatial_mask_summary = nn.Sequential(nn.Conv2d(volume_channels, 1, kernel_size=1))
        if attention in ("both", "channel"):
            self.channelwise_attention = nn.Sequential(
                nn.Linear(in_channels, self.reduced_channels),
                nn.Tanh(),
                nn.Linear(self.reduced_channels, in_channels),
                nn.Sigmoid(),
            )

    def extra_repr(self):
        return (
            f"in_channels={self.in_channels}, num_frames={self.num_frames}, "
            f"spatial_size={self.spatial_size}, attention={self.attention!r}, "
            f"summary_head={self.summary_head!r}, reduced_channels={self.reduced_channels}, "
            f"eps={self.eps}, implementation={self.implementation!r}"
        )

    def forward(self, x, return_masks=False):
        """Returns the attended maps, shaped like x; with return_masks=True a
        CosamOutput(output, spatial_mask, channel_mask)."""
        frames = self._clip_major(x)
        _check_choice("implementation", self.implementation, IMPLEMENTATIONS)
        if self.implementation == "reference":
            out, spatial_mask, channel_mask = reference.cosam(
                frames,
                self.num_frames,
                self.dim_reduction,
                self.spatial_mask_summary,
                self.channelwise_attention,
                self.eps,
            )
        else:
            out, spatial_mask, channel_mask = self._fused(frames)
        if x.dim() == 5:
            out = out.view(x.shape)
            if spatial_mask is not None:
                spatial_mask = spatial_mask.view(*x.shape[:2], *spatial_mask.shape[1:])
        if return_masks:
            return CosamOutput(out, spatial_mask, channel_mask)
        return out

    def _fused(self, frames):
        spatial_mask = channel_mask = None
        if self.spatial_mask_summary is not None:
            frames, reduced = self._reduce(frames)
            first, *rest = self.spatial_mask_summary
            logits = ncc_summary(reduced, first.weight, first.bias, self.num_frames, self.eps)
            for module in rest:
                logits = module(logits)
            spatial_mask = logits.sigmoid()
        if self.channelwise_attention is None:
            return frames * spatial_mask, spatial_mask, None
        # One op for the channel attention and the output: the masked maps
        # x * s never have to exist, and the backward writes dx once.
        first, _, second, _ = self.channelwise_attention
        out, channel_mask = channel_attention(
            frames, spatial_mask, first.weight, first.bias, second.weight, second.bias, self.num_frames
        )
        return out, spatial_mask, channel_mask

    def _reduce(self, frames):
        """dim_reduction(frames), and frames for the attention to use. Where
        frames needs a gradient, the reduction conv forks them
        (`_ForkedConv1x1`), so that its backward adds its share of that
        gradient to the attention's in one GEMM. Under autocast the two shares
        differ in dtype and the modules run as they are."""
        if (
            torch.is_grad_enabled()
            and frames.requires_grad
            and not torch.is_autocast_enabled(frames.device.type)
        ):
            conv, batch_norm, relu = self.dim_reduction
            frames, conv_out = _ForkedConv1x1.apply(frames, conv.weight, conv.bias)
            return frames, relu(batch_norm(conv_out))
        return frames, self.dim_reduction(frames)

    def _clip_major(self, x):
        """Validates x against the layer and returns it as (B*N, C, H, W)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"CosamLayer: x must be a tensor, got {type(x).__name__}")
        if x.dim() == 5:
            if x.shape[1] != self.num_frames:
                raise ValueError(
                    f"CosamLayer: x of shape {tuple(x.shape)} has {x.shape[1]} frames per clip "
                    f"(dim 1 of (B, N, C, H, W)), but the layer was built for num_frames={self.num_frames}"
                )
            x = x.flatten(0, 1)
        elif x.dim() != 4:
            raise ValueError(
                f"CosamLayer: x must be (B*N, C, H, W) or (B, N, C, H, W), got a {x.dim()}-D "
                f"tensor of shape {tuple(x.shape)}"
            )
        elif x.shape[0] % self.num_frames != 0:
            raise ValueError(
                f"CosamLayer: x.size(0) = {x.shape[0]} (B*N) is not divisible by "
                f"num_frames = {self.num_frames}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"CosamLayer: x has {x.shape[1]} channels, the layer was built for "
                f"in_channels={self.in_channels}"
            )
        if tuple(x.shape[2:]) != self.spatial_size:
            raise ValueError(
                f"CosamLayer: x has a {x.shape[2]}x{x.shape[3]} map, the layer was built for "
                f"spatial_size={self.spatial_size}"
            )
        if not x.is_floating_point():
            raise TypeError(f"CosamLayer: x must be a floating-point tensor, got {x.dtype}")
        return x


class _ForkedConv1x1(torch.autograd.Function):
    """(x, conv1x1(x, weight, bias)): x passes through to a second consumer,
    and the backward joins the two gradients of x. The conv's share,
    weight^T @ grad_conv per frame, is accumulated into the pass-through's
    gradient in place, where a separate conv would write a map of x's size
    that autograd then adds. In place is safe because inside CosamLayer the
    pass-through feeds only channel_attention or `* spatial_mask`, whose
    backward hands over a fresh tensor nothing else holds."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x.view_as(x), torch.nn.functional.conv2d(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_x, grad_conv):
        x, weight = ctx.saved_tensors
        _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad_conv, x, weight, [weight.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
            [False, ctx.needs_input_grad[1], ctx.needs_input_grad[2]],  # False for a None bias
        )
        frames, channels = x.shape[:2]
        # A copy only where the incoming gradient is not plain contiguous x.dtype.
        joined = grad_x.to(dtype=x.dtype, memory_format=torch.contiguous_format)
        weight_t = weight.view(weight.shape[0], channels).t()
        joined.view(frames, channels, -1).baddbmm_(
            weight_t.expand(frames, *weight_t.shape), grad_conv.reshape(frames, weight.shape[0], -1)
        )
        return joined, grad_weight, grad_bias


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"CosamLayer: {name} must be one of {choices}, got {value!r}")
