"""What every picture shares: figures drawn off-screen (Agg) at a fixed size
and resolution, so that a PNG's pixel size follows from its layout alone,
frames as images, and the tracklets a user picks by id."""
import io
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..data.tracklets import Tracklet, VideoReIDDataset, load_frame

#: Dots per inch of every saved picture.
DPI = 100
#: One frame's panel (width, height) in inches: re-ID frames are twice as tall as wide.
FRAME_PANEL = (1.0, 2.0)
SPLITS = ("query", "gallery", "train")


def new_figure(width, height) -> Figure:
    """A figure of width x height inches at DPI, drawn by Agg (no display).
    Constrained layout arranges the axes inside the figure without changing
    its size, which stays width*DPI x height*DPI pixels."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path, colours: Optional[int] = None) -> str:
    """Writes the figure as a PNG of exactly its size (no tight bounding box).

    colours: store it with a palette of at most this many colours (2..256).
    Frames with camera noise barely compress as full-colour PNGs; a palette
    PNG is about a third of the size (for documentation), at the cost of
    slight banding in the heat maps.
    """
    if colours is not None and not 2 <= colours <= 256:
        raise ValueError(f"a PNG palette holds 2 to 256 colours, not {colours}")
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    if colours is None:
        figure.savefig(path, dpi=DPI, format="png")
        return path
    full_colour = io.BytesIO()
    figure.savefig(full_colour, dpi=DPI, format="png")
    with Image.open(full_colour) as image:
        image.convert("RGB").quantize(colours).save(path, format="png", optimize=True)
    return path


def frame_image(frame, size=None) -> np.ndarray:
    """The frame as an HxWx3 uint8 array, resized to size (H, W) as
    EvalTransform resizes it when given."""
    image = load_frame(frame)
    if size is not None:
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(image)


def show_frame(axes, image, title=None):
    axes.imshow(image)
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title, fontsize=7)


def describe_tracklet(tracklet: Tracklet) -> str:
    return f"pid {tracklet.pid}, cam {tracklet.camid}"


def select_tracklets(dataset: VideoReIDDataset, ids: Sequence[str]) -> List[Tuple[str, Tracklet]]:
    """(id, tracklet) for ids such as "query:3" (the 4th query tracklet),
    "gallery:0" or "train:12", in the order given."""
    if not ids:
        raise ValueError("no tracklets selected: name at least one, e.g. query:0")
    selected = []
    for tracklet_id in ids:
        split, _, position = str(tracklet_id).partition(":")
        if split not in SPLITS or not position.lstrip("-").isdigit():
            raise ValueError(f"tracklet id {tracklet_id!r} is not SPLIT:INDEX with SPLIT one of {SPLITS}, "
                             f"e.g. query:0")
        tracklets = getattr(dataset, split)
        index = int(position)
        if not 0 <= index < len(tracklets):
            available = f"{split}:0..{split}:{len(tracklets) - 1}" if tracklets else "none"
            raise ValueError(f"tracklet {tracklet_id} does not exist: {dataset.name} has {len(tracklets)} "
                             f"{split} tracklets ({available})")
        selected.append((f"{split}:{index}", tracklets[index]))
    return selected
