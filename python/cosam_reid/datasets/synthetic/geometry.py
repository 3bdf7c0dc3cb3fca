"""Where things are in a tracklet, as a tracker's boxes see them.

Everything lives in the coordinates of a camera's scene (a panorama much
wider than a box): the tracklet's walker moves through it at walking speed
(sideways in side views; towards the camera, growing, in front views and
away from it, shrinking, in back views), and other people, clutter and
occluders stay where they are in the scene or walk their own way. Each
frame's box follows the walker, so the walker stays roughly centred and of
one size while the scene slides and zooms through the box; the box jitters
in position and scale, moving walker and scene together.

Figures stand on a ground plane: feet `slope` person heights below the
horizon, so that nearer (taller) people stand lower. Sizes are in drawing
pixels of the box's height H and width W at zoom 1.
"""
import dataclasses
import math

import numpy as np

#: The most a front or back walker grows (or, inverted, shrinks) over a tracklet.
MAX_GROWTH = 1.45
#: The box's random walk in x, y (fractions of its width, height) and scale:
#: step sizes at difficulty 0 and their increase up to difficulty 1; the walk
#: stays within twice the step.
JITTER = np.array([0.02, 0.01, 0.02])
JITTER_PER_DIFFICULTY = np.array([0.05, 0.02, 0.05])
#: The box's largest size in the scene, relative to (H, W) at zoom 1: the
#: grown walker in a box jittered to its smallest scale.
MAX_BOX = MAX_GROWTH / (1 - 2 * (JITTER + JITTER_PER_DIFFICULTY)[2])
#: Where the walker stands in the box: centred; a junk detection's box holds
#: at most a fragment of someone at its edge.
CENTRED, EDGE = 0.5, 0.42
#: Feet this far down the box.
FEET = 0.97
#: A walking cycle covers this many of the walker's heights.
STRIDE = (0.6, 0.9)


def panorama_shape(size):
    """(height, width, horizon row) of a camera's scene for boxes of size
    (H, W): room for every box of a tracklet (a walker's path, its growth
    and the box's jitter)."""
    height, width = size
    return int(2.8 * height), int(4 * height + 4 * width), 1.75 * height


def margin(size) -> float:
    """How far a walker's feet keep from the scene's left and right edges."""
    return (CENTRED + EDGE + 2 * (JITTER + JITTER_PER_DIFFICULTY)[0]) * MAX_BOX * size[1]


@dataclasses.dataclass(frozen=True)
class Ground:
    horizon: float   # scene row
    slope: float     # feet this many person heights below the horizon

    def feet_y(self, height) -> float:
        return self.horizon + self.slope * height


@dataclasses.dataclass(frozen=True)
class Walk:
    """A figure in the scene: feet at x + speed * t, `height` growing by a
    factor of `growth` per frame (1: walking sideways or standing)."""
    x: float
    speed: float
    height: float
    growth: float = 1.0

    def at(self, t, ground: Ground):
        """(x, feet_y, height) at frame t."""
        height = self.height * self.growth ** t
        return self.x + self.speed * t, ground.feet_y(height), height


@dataclasses.dataclass(frozen=True)
class Box:
    """A detection box in the scene: its top-left corner and the drawing
    pixels per scene pixel."""
    left: float
    top: float
    zoom: float

    def extent(self, size):
        """(left, top, right, bottom) in the scene of a box drawn at size (H, W)."""
        return self.left, self.top, self.left + size[1] / self.zoom, self.top + size[0] / self.zoom

    def place(self, x, feet_y, height):
        """A figure's (x, feet_y, height) in the scene, in the box's drawing pixels."""
        return (x - self.left) * self.zoom, (feet_y - self.top) * self.zoom, height * self.zoom


def pace(height, gait_period, rng) -> float:
    """Walking speed, scene pixels per frame, of someone `height` tall."""
    return rng.uniform(*STRIDE) * height / gait_period


def tracklet_walk(view, height, gait_period, length, size, scene_width, rng) -> Walk:
    """The walker's path: `height` pixels tall at the first frame, seen from
    `view`, within the scene for `length` frames (a long tracklet walks
    slower rather than off the scene)."""
    speed = pace(height, gait_period, rng)
    growth = 1.0
    if view in ("left", "right"):
        speed *= 1 if view == "right" else -1
    else:  # towards or away from the camera, and a little sideways: few walk straight at it
        speed *= rng.choice([-1, 1]) * rng.uniform(0.2, 0.6)
        rate = min(rng.uniform(0.01, 0.025), math.log(MAX_GROWTH) / max(1, length - 1))
        growth = math.exp(rate if view == "front" else -rate)
    edge = margin(size)
    travel = min(abs(speed) * (length - 1), scene_width - 2 * edge)
    speed = math.copysign(travel / max(1, length - 1), speed)
    start = rng.uniform(edge, max(edge, scene_width - edge - travel))  # max: rounding when travel is capped
    return Walk(start if speed >= 0 else start + travel, speed, height, growth)


def box_jitter(length, difficulty, rng) -> np.ndarray:
    """(length, 3): each frame's box offset in x, y and scale, a random walk
    as detection boxes drift."""
    step = JITTER + JITTER_PER_DIFFICULTY * difficulty
    offset, offsets = np.zeros(3), []
    for _ in range(length):
        offset = np.clip(offset + rng.normal(0, 1, 3) * step / 2, -step * 2, step * 2)
        offsets.append(offset)
    return np.array(offsets)


def tracked_box(position, offset, fill, size, centre=CENTRED) -> Box:
    """The box around a walker at position (x, feet_y, height), the walker
    `fill` of the box's height tall, moved and scaled by offset."""
    x, feet_y, height = position
    zoom = fill * size[0] * (1 + offset[2]) / height
    return Box(x - (centre + offset[0]) * size[1] / zoom, feet_y - (FEET + offset[1]) * size[0] / zoom, zoom)


def passer_walk(walk: Walk, ground: Ground, length, gait_period, rng) -> Walk:
    """Someone nearer the camera (taller, lower) who crosses the walker's
    path during the tracklet, either way."""
    crossing = rng.uniform(0, max(1, length - 1))
    x, _, height = walk.at(crossing, ground)
    height *= 1.1
    speed = rng.choice([-1, 1]) * pace(height, gait_period, rng)
    return Walk(x + rng.uniform(-0.3, 0.3) * height - speed * crossing, speed, height)


def beside_path(walk: Walk, ground: Ground, length, rng):
    """A point of the walker's path at a random frame: (x, feet_y, height)."""
    return walk.at(rng.uniform(0, max(1, length - 1)), ground)
