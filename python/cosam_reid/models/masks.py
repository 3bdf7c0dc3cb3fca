"""The masks a model's COSAM layers compute: every layer's spatial and
channel masks recorded in one forward, without changing what the forward
returns. The pictures (visualize.masks) and the mask-quality metric
(evaluation.mask_quality) both read masks through this module."""
import contextlib
import re
from typing import Dict, List, NamedTuple, Optional

import torch
import torch.nn.functional as F

from cosam_ext import CosamLayer


class LayerMasks(NamedTuple):
    #: The layer's module name in the model, e.g. "cosam.block4".
    name: str
    #: What the pictures call it, e.g. "COSAM_4".
    label: str
    #: (B, N, h, w) at the layer's map size; None without spatial attention.
    spatial: Optional[torch.Tensor]
    #: (B, C), one per clip; None without channel attention.
    channel: Optional[torch.Tensor]


def cosam_layers(model, what="the model") -> Dict[str, CosamLayer]:
    """The CosamLayers of model by module name, in forward order; a
    ValueError when there are none."""
    layers = {name: module for name, module in model.named_modules() if isinstance(module, CosamLayer)}
    if not layers:
        raise ValueError(f"{what} has no COSAM layers: there are no masks to show")
    return layers


def layer_label(name):
    """VideoReIDModel keeps COSAM_n (the paper's name) as cosam.block<n>."""
    match = re.fullmatch(r"cosam\.block(\d+)", name)
    return f"COSAM_{match.group(1)}" if match else name


@contextlib.contextmanager
def recording_masks(layers: Dict[str, CosamLayer]):
    """Within the block, each layer is called with return_masks=True and its
    CosamOutput recorded in the dict yielded (by name); the caller's forward
    goes on with the attended maps alone, exactly as without the hooks."""
    recorded = {}

    def ask_for_masks(layer, args, kwargs):
        return args, {**kwargs, "return_masks": True}

    def keep_masks(name):
        def hook(layer, args, output):
            recorded[name] = output
            return output.output
        return hook

    handles = []
    try:
        for name, layer in layers.items():
            handles.append(layer.register_forward_pre_hook(ask_for_masks, with_kwargs=True))
            handles.append(layer.register_forward_hook(keep_masks(name)))
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def capture_masks(model, clips: torch.Tensor) -> List[LayerMasks]:
    """The masks every COSAM layer of model computes in one eval-mode forward
    of clips (B, N, 3, H, W), in forward order. Each layer must run once per
    forward, as in VideoReIDModel."""
    layers = cosam_layers(model)
    was_training = model.training
    model.eval()
    try:
        with recording_masks(layers) as recorded:
            model(clips)
    finally:
        model.train(was_training)
    masks = []
    for name, layer in layers.items():
        output = recorded[name]
        spatial = output.spatial_mask
        if spatial is not None:
            spatial = spatial.reshape(-1, layer.num_frames, *spatial.shape[-2:])
        masks.append(LayerMasks(name, layer_label(name), spatial, output.channel_mask))
    return masks


def upsample_masks(spatial: torch.Tensor, size) -> torch.Tensor:
    """(B, N, h, w) masks -> (B, N, H, W), bilinearly, as the heat maps show them."""
    batch, frames = spatial.shape[:2]
    upsampled = F.interpolate(spatial.flatten(0, 1)[:, None].float(), size=tuple(size), mode="bilinear",
                              align_corners=False)
    return upsampled.view(batch, frames, *size)
