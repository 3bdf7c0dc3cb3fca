"""One tracklet drawn: its frames, each frame's silhouette of the tracklet's
person and its clutter mask. The frames follow geometry's tracked box
through the camera's scene; the masks are drawn beside them with the same
geometry and no random draws: a truth image whose red channel is the
person and green channel everything else that is not the plain scene."""
import math
from typing import Optional

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from .figures import CLOTHING, VIEWS, Appearance, draw_person, jittered, painted, rgb, someone_else
from .geometry import CENTRED, EDGE, Walk, beside_path, box_jitter, passer_walk, tracked_box, tracklet_walk
from .scene import Camera, finish

# Drawing happens at this multiple of the output size, then is downsampled,
# which anti-aliases the shapes.
SUPERSAMPLE = 2
PERSON, OTHER = (255, 0, 0), (0, 255, 0)  # in the truth image
DRAWN = [0] + [255] * 255                  # point() tables: anything drawn,
AT_LEAST_HALF = [0] * 128 + [255] * 128   # a pixel at least half covered


def downsampled_masks(truth, size):
    """The truth image at drawing scale as two 0/255 "L" images of the
    output size, the silhouette (red) and the clutter mask (green, where not
    the person), resized as finish() resizes the frame: a pixel is covered
    when at least half its weight is."""
    person, other = (channel.point(DRAWN).resize((size[1], size[0]), Image.BILINEAR).point(AT_LEAST_HALF)
                     for channel in truth.split()[:2])
    return person, ImageChops.subtract(other, person)


def render_tracklet(appearance: Optional[Appearance], camera: Camera, length, others, config, rng):
    """The frames of one tracklet, their silhouettes and their clutter masks,
    as three lists of PIL images (RGB, "L", "L"). `appearance` None draws a
    junk detection: mostly scene, at most a fragment of someone at the box's
    edge, and an empty silhouette."""
    height, width = size = tuple(s * SUPERSAMPLE for s in config.image_size)
    difficulty, occlusion = config.difficulty, config.occlusion_level
    view = camera.view if rng.random() < 0.75 else VIEWS[rng.integers(len(VIEWS))]
    walker = appearance if appearance is not None else someone_else(others, None, rng)
    centre = CENTRED if appearance is not None else CENTRED + rng.choice([-EDGE, EDGE])
    fill = camera.scale * (appearance.height if appearance is not None else rng.uniform(0.8, 0.95))
    walk = tracklet_walk(view, fill * height, walker.gait_period, length, size, camera.scene.width, rng)
    offsets = box_jitter(length, difficulty, rng)
    phase, light = rng.uniform(0, 2 * math.pi), rng.uniform(1 - 0.15 * difficulty, 1 + 0.15 * difficulty)

    ground = camera.ground
    passer = passer_path = None
    if rng.random() < 0.5 * occlusion:
        passer = someone_else(others, walker, rng)
        passer_path = passer_walk(walk, ground, length, passer.gait_period, rng)
    bystander = bystander_at = None
    if rng.random() < 0.6 * occlusion:  # standing beside the walker's path, further back
        bystander = someone_else(others, walker, rng)
        x, _, stature = beside_path(walk, ground, length, rng)
        side = rng.choice([-1, 1]) * rng.uniform(0.3, 0.55) * stature * width / (fill * height)
        bystander_at = Walk(x + side, 0.0, stature * 0.9)
        bystander_view, bystander_phase = VIEWS[rng.integers(len(VIEWS))], rng.uniform(0, 2 * math.pi)
    occluder = None
    if rng.random() < 0.4 * occlusion:  # an object in front, hiding the walker's lower body when passed
        x, feet_y, stature = beside_path(walk, ground, length, rng)
        box_width = stature * width / (fill * height)
        left, right = sorted(x + rng.uniform(-0.5, 0.5) * box_width + np.array([-0.5, 0.5])
                             * rng.uniform(0.15, 0.5) * box_width)
        occluder = (left, feet_y - rng.uniform(0.12, 0.45) * stature, right, camera.scene.height,
                    rgb(jittered(CLOTHING[rng.integers(len(CLOTHING))], rng, 15)))
    # The target in red; what is not the person nor the plain scene in green.
    walker_mask = painted(walker, PERSON if appearance is not None else OTHER)
    passer_mask = painted(passer, OTHER) if passer is not None else None
    bystander_mask = painted(bystander, OTHER) if bystander is not None else None
    blank = Image.new("L", (width, height))

    frames, silhouettes, clutter = [], [], []
    for t in range(length):
        walking = phase + 2 * math.pi * t / walker.gait_period
        box = tracked_box(walk.at(t, ground), offsets[t], fill, size, centre)
        extent = box.extent(size)
        # Nearest pixels at drawing scale: finish() smooths the frame as it downsamples it.
        canvas, labels = (image.resize((width, height), Image.NEAREST, box=extent)
                          for image in (camera.scene, camera.clutter))
        truth = Image.merge("RGB", (blank, labels, blank))
        if bystander is not None:
            for image, person in ((canvas, bystander), (truth, bystander_mask)):
                draw_person(image, person, bystander_view, bystander_phase, *box.place(*bystander_at.at(t, ground)),
                            shade=0.9)
        for image, person in ((canvas, walker), (truth, walker_mask)):
            draw_person(image, person, view, walking, *box.place(*walk.at(t, ground)))
        if passer is not None:
            passer_view = "right" if passer_path.speed > 0 else "left"
            for image, person in ((canvas, passer), (truth, passer_mask)):
                draw_person(image, person, passer_view, walking * 1.3, *box.place(*passer_path.at(t, ground)))
        if occluder is not None:
            left, top, right, bottom, colour = occluder
            (x0, y0, _), (x1, y1, _) = box.place(left, top, 0), box.place(right, bottom, 0)
            ImageDraw.Draw(canvas).rectangle([x0, y0, x1, y1], fill=colour)
            ImageDraw.Draw(truth).rectangle([x0, y0, x1, y1], fill=OTHER)
        frames.append(finish(canvas, camera, light, rng, config.image_size))
        silhouette, others = downsampled_masks(truth, config.image_size)
        silhouettes.append(silhouette)
        clutter.append(others)
    return frames, silhouettes, clutter
