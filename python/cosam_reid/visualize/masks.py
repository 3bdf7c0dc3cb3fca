"""The co-segmentation masks of a model's COSAM layers over the frames of
clips: each layer's spatial mask upsampled to the frame and laid over it as a
heat map, its channel mask as a bar plot (supplementary Figures 1-4 of the
paper)."""
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from ..data.tracklets import Tracklet
from ..data.transforms import to_normalised_tensor
from ..evaluation.features import clip_indices
from ..evaluation.mask_quality import score_frame
from ..models.masks import LayerMasks, capture_masks, cosam_layers, upsample_masks
from .common import FRAME_PANEL, frame_image, new_figure, show_frame

#: Width in inches of the column holding the channel-mask bar plots.
CHANNEL_PANEL_WIDTH = 2.0
HEAT_MAP = "jet"
#: Opacity of the spatial mask over the frame.
HEAT_MAP_ALPHA = 0.5
SILHOUETTE_COLOUR = "white"


def masks_figure(frames: np.ndarray, masks: Sequence[LayerMasks], titles: Optional[Sequence[str]] = None,
                 silhouettes: Optional[Sequence[Sequence[np.ndarray]]] = None) -> Figure:
    """One block of rows per clip: its frames, then one row per layer with
    the layer's spatial mask over each frame (0 blue .. 1 red) and its channel
    mask as a bar plot beside them.

    frames: (B, N, H, W, 3) uint8, the clips as the model saw them; masks:
    capture_masks of those clips; titles: one per clip; silhouettes: the
    ground-truth person silhouette (a boolean array at the frame's own size)
    of each frame of each clip, outlined over every panel, with each mask
    panel's AUC (evaluation.mask_quality) under it.
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
    if silhouettes is not None and [len(clip) for clip in silhouettes] != [num_frames] * num_clips:
        raise ValueError(f"silhouettes must hold {num_frames} frames for each of the {num_clips} clips")
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
            if silhouettes is not None:
                outline_silhouette(axes, silhouettes[clip][frame], size)
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
                if silhouettes is not None:
                    outline_silhouette(axes, silhouettes[clip][frame], size)
                    if layer.spatial is not None:
                        truth = silhouettes[clip][frame]
                        mask = upsample_masks(layer.spatial[clip:clip + 1, frame:frame + 1].cpu(), truth.shape)
                        score = score_frame(mask[0, 0].numpy(), truth)
                        axes.set_xlabel("no person" if score is None else f"AUC {score.auc:.2f}", fontsize=7)
                elif frame == 0:
                    axes.set_title("no spatial attention", fontsize=7)
            draw_channel_mask(figure.add_subplot(grid[row, num_frames]), layer, clip)
    if heat_map is not None:
        # The frames row's last cell is free: the heat map's scale goes there.
        scale = figure.add_subplot(grid[0, num_frames])
        figure.colorbar(heat_map, cax=scale, orientation="horizontal", label="spatial mask")
        scale.set_box_aspect(0.08)
    return figure


def outline_silhouette(axes, silhouette: np.ndarray, size):
    """The silhouette's outline over a panel showing the frame at size (H, W)."""
    scaled = Image.fromarray(np.asarray(silhouette, dtype=np.uint8) * 255).resize((size[1], size[0]), Image.BILINEAR)
    if scaled.getextrema()[1] >= 128:  # an empty silhouette has no outline
        axes.contour(np.asarray(scaled) >= 128, levels=[0.5], colors=SILHOUETTE_COLOUR, linewidths=0.8)


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


def tracklet_masks_figure(model, tracklets: Sequence[Tracklet], titles: Optional[Sequence[str]] = None,
                          silhouette: Optional[Callable[[str], np.ndarray]] = None) -> Figure:
    """masks_figure of the first clip of each tracklet through a
    VideoReIDModel, the frames resized to its input size as EvalTransform
    does; silhouette maps a frame path to its person silhouette, outlined
    with each panel's AUC when given."""
    cosam_layers(model)
    if not tracklets:
        raise ValueError("no tracklets selected: there is nothing to show")
    spec = model.spec
    frames = np.stack([[frame_image(tracklet.frames[position], spec.input_size)
                        for position in first_clip(tracklet, spec.num_frames)] for tracklet in tracklets])
    clips = torch.stack([torch.stack([to_normalised_tensor(image) for image in clip]) for clip in frames])
    masks = capture_masks(model, clips.to(next(model.parameters()).device))
    silhouettes = None
    if silhouette is not None:
        silhouettes = [[silhouette(tracklet.frames[position]) for position in first_clip(tracklet, spec.num_frames)]
                       for tracklet in tracklets]
    return masks_figure(frames, masks, titles, silhouettes)
