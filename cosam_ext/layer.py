"""CosamLayer: the co-segmentation attention layer as an nn.Module."""
from typing import NamedTuple, Optional

import torch
import torch.fx
from torch import nn
from torch.nn.modules import module as _module_hooks

from . import reference
from .ops import DEFAULT_EPS, apply_attention, channel_attention, masked_mean, ncc_cost_volume, ncc_summary
from .ops.channel_attention import mask_or_ones

__all__ = ["CosamLayer", "CosamOutput"]

ATTENTIONS = ("both", "spatial", "channel")
SUMMARY_HEADS = ("authors", "paper")
IMPLEMENTATIONS = ("fused", "reference")

#: Width of the hidden layer of the authors' summary head.
SUMMARY_WIDTH = 64
#: The module types of channelwise_attention, which the fused op computes from the Linear weights.
_CHANNEL_MLP = (nn.Linear, nn.Tanh, nn.Linear, nn.Sigmoid)


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
    as they are. The submodules behave as modules in both implementations,
    in training and evaluation: hooks on them fire, and replacing one (say
    dim_reduction's conv by a quantized or pruned one) changes what the layer
    computes. The fused ops read the weights of the first summary conv and of
    the channel attention's Linear layers instead of calling them, as long as
    those are the plain modules the layer built, without hooks; a hooked or
    replaced one is called as a module (for the summary conv, on the
    materialised cost volume, as in the reference).
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
        if isinstance(x, torch.fx.Proxy):
            # torch.fx.symbolic_trace: no sizes to check, and return_masks is a
            # Proxy too unless given in concrete_args.
            return_masks = _traced_return_masks(return_masks)
        else:
            self._check_input(x)
        # (B, N, C, H, W) or (B*N, C, H, W) -> (B*N, C, H, W), without a
        # branch on x.dim() that a tracer could not follow.
        frames = x.flatten(0, -4)
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
        out = out.view(x.shape)
        if spatial_mask is not None:
            spatial_mask = spatial_mask.unflatten(0, x.shape[:-3])
        if return_masks:
            return CosamOutput(out, spatial_mask, channel_mask)
        return out

    def _fused(self, frames):
        spatial_mask = channel_mask = None
        if self.spatial_mask_summary is not None:
            reduced = self.dim_reduction(frames)
            summary = self.spatial_mask_summary
            first, *rest = summary
            if _runs_as_weights(summary, nn.Sequential) and _runs_as_weights(first, nn.Conv2d):
                logits = ncc_summary(reduced, first.weight, first.bias, self.num_frames, self.eps)
                for module in rest:
                    logits = module(logits)
            else:
                # Hooked or replaced: the modules see the volume they are built for.
                logits = summary(ncc_cost_volume(reduced, self.num_frames, self.eps))
            spatial_mask = logits.sigmoid()
        if self.channelwise_attention is None:
            return frames * spatial_mask, spatial_mask, None
        mlp = self.channelwise_attention
        if _runs_as_weights(mlp, nn.Sequential) and len(mlp) == len(_CHANNEL_MLP) and all(
            _runs_as_weights(module, built) for module, built in zip(mlp, _CHANNEL_MLP)
        ):
            first, _, second, _ = mlp
            # One op for the channel attention and the output: the masked maps
            # x * s never have to exist, and the backward writes dx once.
            out, channel_mask = channel_attention(
                frames, spatial_mask, first.weight, first.bias, second.weight, second.bias, self.num_frames
            )
            return out, spatial_mask, channel_mask
        mask = mask_or_ones(frames, spatial_mask)
        per_frame = mlp(masked_mean(frames, mask))
        channel_mask = per_frame.view(-1, self.num_frames, self.in_channels).mean(dim=1)
        return apply_attention(frames, mask, channel_mask, self.num_frames), spatial_mask, channel_mask

    def _check_input(self, x):
        """Validates x against the layer: (B*N, C, H, W) or (B, N, C, H, W)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"CosamLayer: x must be a tensor, got {type(x).__name__}")
        if x.dim() == 5:
            if x.shape[1] != self.num_frames:
                raise ValueError(
                    f"CosamLayer: x of shape {tuple(x.shape)} has {x.shape[1]} frames per clip "
                    f"(dim 1 of (B, N, C, H, W)), but the layer was built for num_frames={self.num_frames}"
                )
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
        if x.shape[-3] != self.in_channels:
            raise ValueError(
                f"CosamLayer: x has {x.shape[-3]} channels, the layer was built for "
                f"in_channels={self.in_channels}"
            )
        if tuple(x.shape[-2:]) != self.spatial_size:
            raise ValueError(
                f"CosamLayer: x has a {x.shape[-2]}x{x.shape[-1]} map, the layer was built for "
                f"spatial_size={self.spatial_size}"
            )
        if not x.is_floating_point():
            raise TypeError(f"CosamLayer: x must be a floating-point tensor, got {x.dtype}")

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every module it is handed or finds
        # inside one: the layer's ops and checks are Python, which TorchScript
        # cannot compile.
        raise RuntimeError(
            "CosamLayer cannot be compiled by torch.jit.script (its ops are called from Python). "
            "Use torch.export.export(model, (x,)) for a graph, torch.jit.trace(model, (x,)) for "
            "TorchScript, or torch.onnx.export(model, (x,), dynamo=True) for ONNX."
        )


def _runs_as_weights(module, built_type):
    """Whether the fused ops may read module's weights instead of calling it:
    it is of the type the layer built, and a call would run no hooks."""
    hooks = (
        module._forward_pre_hooks, module._forward_hooks, module._backward_pre_hooks, module._backward_hooks,
        _module_hooks._global_forward_pre_hooks, _module_hooks._global_forward_hooks,
        _module_hooks._global_backward_pre_hooks, _module_hooks._global_backward_hooks,
    )
    return type(module) is built_type and not any(hooks)


def _traced_return_masks(return_masks):
    """return_masks as symbolic_trace left it: a Proxy (its default, False) or
    the value given in concrete_args. The traced module returns the output
    only then, and fails at run time if asked for the masks."""
    if not isinstance(return_masks, torch.fx.Proxy):
        return return_masks
    torch._assert(
        return_masks == False,  # noqa: E712  (records the comparison in the graph)
        "CosamLayer was traced without its masks: trace it with "
        "concrete_args={'return_masks': True} to return them",
    )
    return False


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"CosamLayer: {name} must be one of {choices}, got {value!r}")
