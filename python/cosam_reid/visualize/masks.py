"""The co-segmentation masks of a model's COSAM layers over the frames of
clips: each layer's spatial mask upsampled to the frame and laid over it as a
heat map, its channel mask as a bar plot (supplementary Figures 1-4 of the
paper)."""
import contextlib
import re
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from cosam_ext import CosamLayer

from ..data.tracklets import Tracklet
from ..data.transforms import to_normalised_tensor
from ..evaluation.features import clip_indices
from .figures import FRAME_PANEL, frame_image, new_figure, show_frame

#: Width in inches of the column holding the channel-mask bar plots.
CHANNEL_PANEL_WIDTH = 2.0
HEAT_MAP = "jet"
#: Opacity of the spatial mask over the frame.
HEAT_MAP_ALPHA = 0.5


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


def masks_figure(frames: np.ndarray, masks: Sequence[LayerMasks], titles: Optional[Sequence[str]] = None) -> Figure:
    """One block of rows per clip: its frames, then one row per layer with
    the layer's spatial mask over each frame (0 blue .. 1 red) and its channel
    mask as a bar plot beside them.

    frames: (B, N, H, W, 3) uint8, the clips as the model saw them; masks:
    capture_masks of those clips; titles: one per clip.
    """
    frames = np.asarray(frames)
    if frames.ndim != 5 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a non-empty (B, N, H, W, 3) array, got shape {frames.shape}")
    if not masks:
        raise ValueError("no layer masks to show")
    for layer in masks:
        for mask, shape, what in ((layer.spatial, frames.shape[:2], "(B, N)"), (layer.channel, frames.shape[:1], "B")):
            if mask is not None and tuple(mask.shape[:len(shape)]) != shape:
                raise ValueError(f"{layer.label}: masks of shape {tuple(mask.shape)} for frames of {what} = {shape}")
    num_clips, num_frames = frames.shape[:2]
    titles = list(titles) if titles is not None else [f"clip {clip}" for clip in range(num_clips)]
    if len(titles) != num_clips:
        raise ValueError(f"{len(titles)} titles for {num_clips} clips")
    rows_per_clip = 1 + len(masks)
    panel_width, panel_height = FRAME_PANEL
    figure = new_figure(num_frames * panel_width + CHANNEL_PANEL_WIDTH, num_clips * rows_per_clip * panel_height)
    grid = figure.add_gridspec(num_clips * rows_per_clip, num_frames + 1,
                               width_ratios=[panel_width] * num_frames + [CHANNEL_PANEL_WIDTH])
    size = frames.shape[2:4]
    heat_map = None
    for clip in range(num_clips):
        top = clip * rows_per_clip
        for frame in range(num_frames):
            axes = figure.add_subplot(grid[top, frame])
            show_frame(axes, frames[clip, frame])
            if frame == 0:
                axes.set_ylabel(titles[clip], fontsize=8)
        for row, layer in enumerate(masks, start=top + 1):
            overlays = None
            if layer.spatial is not None:
                overlays = upsample_masks(layer.spatial[clip:clip + 1].cpu(), size)[0]
            for frame in range(num_frames):
                axes = figure.add_subplot(grid[row, frame])
                show_frame(axes, frames[clip, frame])
                if frame == 0:
                    map_size = "" if layer.spatial is None else "\n{}x{} map".format(*layer.spatial.shape[-2:])
                    axes.set_ylabel(layer.label + map_size, fontsize=8)
                if overlays is not None:
                    heat_map = axes.imshow(overlays[frame].numpy(), cmap=HEAT_MAP, alpha=HEAT_MAP_ALPHA,
                                           vmin=0.0, vmax=1.0)
                    heat_map.set_label(f"{layer.label} frame {frame}")
                elif frame == 0:
                    axes.set_title("no spatial attention", fontsize=7)
            draw_channel_mask(figure.add_subplot(grid[row, num_frames]), layer, clip)
    if heat_map is not None:
        # The frames row's last cell is free: the heat map's scale goes there.
        scale = figure.add_subplot(grid[0, num_frames])
        figure.colorbar(heat_map, cax=scale, orientation="horizontal", label="spatial mask")
        scale.set_box_aspect(0.08)
    return figure


def draw_channel_mask(axes, layer: LayerMasks, clip: int):
    if layer.channel is None:
        axes.set_axis_off()
        axes.text(0.5, 0.5, "no channel attention", ha="center", va="center", fontsize=7)
        return
    values = layer.channel[clip].float().cpu().numpy()
    axes.bar(np.arange(len(values)), values, width=1.0, align="edge", linewidth=0, color="tab:blue")
    axes.set_xlim(0, len(values))
    axes.set_ylim(0, 1)
    axes.set_title(f"{layer.label} channel mask", fontsize=7)
    axes.set_xlabel(f"channel (of {len(values)})", fontsize=7)
    axes.tick_params(labelsize=6)
    axes.set_box_aspect(0.6)


def first_clip(tracklet: Tracklet, num_frames: int) -> List[int]:
    """The frames of a tracklet's first test clip (dense sampling's): the
    first num_frames, cycled when the tracklet is shorter."""
    return clip_indices(len(tracklet.frames), num_frames)[0]


def tracklet_masks_figure(model, tracklets: Sequence[Tracklet], titles: Optional[Sequence[str]] = None) -> Figure:
    """masks_figure of the first clip of each tracklet through a
    VideoReIDModel, the frames resized to its input size as EvalTransform does."""
    cosam_layers(model)
    if not tracklets:
        raise ValueError("no tracklets selected: there is nothing to show")
    spec = model.spec
    frames = np.stack([[frame_image(tracklet.frames[position], spec.input_size)
                        for position in first_clip(tracklet, spec.num_frames)] for tracklet in tracklets])
    clips = torch.stack([torch.stack([to_normalised_tensor(image) for image in clip]) for clip in frames])
    masks = capture_masks(model, clips.to(next(model.parameters()).device))
    return masks_figure(frames, masks, titles)
