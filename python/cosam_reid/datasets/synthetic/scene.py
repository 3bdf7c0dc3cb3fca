"""The cameras of the synthetic dataset: each a scene (a panorama at the
people's scale: wall and floor with their texture, doors, windows, columns
and panels, and clutter painted in clothing colours, so that colour alone
does not find the person), a ground plane, a usual viewing direction, and
optics (colour cast, brightness, blur, noise, JPEG quality)."""
import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .figures import CLOTHING, VIEWS, jittered, rgb
from .geometry import Ground, panorama_shape

#: The band of the scene around the horizon that boxes see, in box heights
#: above and below it: where clutter goes.
SEEN_ABOVE, SEEN_BELOW = 0.75, 0.6


@dataclasses.dataclass
class Camera:
    scene: Image.Image       # RGB panorama at drawing scale
    clutter: Image.Image     # "L", 255 on the scene's clutter objects
    ground: Ground
    gain: np.ndarray         # per-channel colour cast
    brightness: float
    blur: float
    noise: float
    jpeg_quality: int
    view: str                # the usual walking direction seen by this camera
    scale: float             # person size in the box, relative to the box's height


def muted(rng, low, high):
    """A mostly grey surface colour, as in station and campus footage."""
    return np.clip(rng.uniform(low, high) + rng.normal(0, 18, 3), 0, 255)


def scene_panorama(height, width, horizon, unit, clutter, rng):
    """A camera's scene, height x width, horizon at that row, drawn at the
    scale of people `unit` pixels tall: (RGB image, "L" clutter mask)."""
    wall, floor = muted(rng, 80, 200), muted(rng, 60, 160)
    image = Image.new("RGB", (width, height))
    labels = Image.new("L", (width, height))
    draw, label = ImageDraw.Draw(image), ImageDraw.Draw(labels)
    draw.rectangle([0, 0, width, horizon], fill=rgb(wall))
    draw.rectangle([0, horizon, width, height], fill=rgb(floor))
    line = max(1, int(unit * 0.012))
    lines = rgb(wall, rng.uniform(0.7, 0.9))
    brick = unit * rng.uniform(0.05, 0.12)
    if rng.random() < 0.5:  # bricks or panels
        for y in np.arange(horizon, 0, -brick):
            draw.line([0, y, width, y], fill=lines, width=line)
    # Doors, windows, columns and panels along the wall, at the people's scale.
    x = rng.uniform(0, 0.5) * unit
    while x < width:
        w = rng.uniform(0.15, 0.6) * unit
        shade = rgb(wall, rng.uniform(0.6, 1.25))
        kind = rng.integers(4)
        if kind == 0:    # a door
            draw.rectangle([x, horizon - 1.1 * unit, x + w, horizon], fill=shade)
        elif kind == 1:  # a window with its bars
            top = horizon - rng.uniform(1.2, 1.5) * unit
            draw.rectangle([x, top, x + w, top + 0.6 * unit], fill=shade, outline=lines, width=line * 2)
            draw.line([x + w / 2, top, x + w / 2, top + 0.6 * unit], fill=lines, width=line)
        elif kind == 2:  # a column
            draw.rectangle([x, 0, x + w * 0.5, horizon], fill=shade)
        else:            # a panel
            top = horizon - rng.uniform(0.5, 1.3) * unit
            draw.rectangle([x, top, x + w, horizon - 0.1 * unit], fill=shade, outline=lines, width=line)
        x += w + rng.uniform(0.1, 0.6) * unit
    tile = unit * rng.uniform(0.2, 0.4)
    for x in np.arange(-height, width, tile):  # floor tiles
        draw.line([x, horizon, x - (height - horizon), height], fill=lines, width=line)
    for y in horizon + tile * np.arange(1, 8) ** 1.5 / 4:  # their rows, wider apart nearer the camera
        draw.line([0, y, width, y], fill=lines, width=line)
    for _ in range(int((SEEN_ABOVE + SEEN_BELOW) * width / unit * (1 + 5 * clutter))):
        colour = rgb(jittered(CLOTHING[rng.integers(len(CLOTHING))], rng, 15))
        x, w = rng.uniform(0, width), rng.uniform(0.05, 0.2) * unit
        top, bottom = sorted(rng.uniform(horizon - SEEN_ABOVE * unit, horizon + SEEN_BELOW * unit, 2))
        shape = "ellipse" if rng.random() < 0.3 else "rectangle"
        corners = [x, top, x + w, max(bottom, top + unit * 0.03)]
        getattr(draw, shape)(corners, fill=colour)
        getattr(label, shape)(corners, fill=255)
    # Fine grain, and texture at the scale of a body part and of a pattern's stripe.
    texture = rng.standard_normal((height, width), dtype=np.float32) * 6
    for cell, low, high in ((16, 10, 25), (4, 8, 20)):
        coarse = rng.standard_normal((height // cell + 2, width // cell + 2), dtype=np.float32)
        texture += np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR)) * rng.uniform(low, high)
    pixels = np.clip(np.asarray(image, dtype=np.float32) + texture[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(pixels), labels


def random_camera(size, difficulty, clutter, rng) -> Camera:
    """A camera for boxes drawn at size (H, W)."""
    height, width, horizon = panorama_shape(size)
    spread = 0.05 + 0.25 * difficulty
    scene, labels = scene_panorama(height, width, int(horizon), size[0], clutter, rng)
    return Camera(
        scene=scene,
        clutter=labels,
        ground=Ground(horizon, float(rng.uniform(0.3, 0.55))),
        gain=np.clip(1 + rng.normal(0, spread / 2, 3), 0.6, 1.4),
        brightness=float(np.clip(1 + rng.normal(0, spread), 0.55, 1.45)),
        blur=float(rng.uniform(0, 1.2 * difficulty)),
        noise=float(2 + 6 * difficulty * rng.random()),
        jpeg_quality=int(rng.integers(70, 96)),
        view=VIEWS[rng.integers(len(VIEWS))],
        scale=float(rng.uniform(0.92, 1.0) - 0.1 * difficulty * rng.random()),
    )


def finish(canvas, camera, tracklet_light, rng, size):
    """Camera optics on a drawn frame, at the output size: downsampling,
    blur, colour cast, brightness and sensor noise."""
    image = canvas.resize((size[1], size[0]), Image.BILINEAR)
    if camera.blur > 0.15:
        image = image.filter(ImageFilter.GaussianBlur(camera.blur))
    pixels = np.asarray(image, dtype=np.float32) * (camera.gain * camera.brightness * tracklet_light).astype(np.float32)
    pixels += rng.normal(0, camera.noise, pixels.shape[:2] + (1,)).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
