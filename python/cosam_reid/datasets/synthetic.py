"""The built-in synthetic video re-ID dataset, written in the MARS on-disk
layout so that the MARS loader reads it like the real thing:

    <root>/synthetic/bbox_train/<pid>/<pid>C<cam>T<tracklet>F<frame>.jpg
    <root>/synthetic/bbox_test/...            (0000: distractors, 00-1: junk)
    <root>/synthetic/info/train_name.txt, test_name.txt, tracks_train_info.mat,
                          tracks_test_info.mat, query_IDX.mat
    <root>/synthetic/silhouettes/bbox_train/<pid>/<frame name>.png, bbox_test/...
    <root>/synthetic/synthetic.json           the settings it was generated with

Each frame has a silhouette beside it (a folder the MARS loader does not
read): an 8-bit grayscale PNG of the frame's size, 255 where the tracklet's
person is visible (after occlusion by passers-by and objects), 0 elsewhere;
all 0 for junk.

Each identity is a walking figure with its own build, gait, skin and hair,
clothing colours and pattern (some visible from the front only, such as a
logo, some from the back only, such as a backpack). Each camera has its own
scene, viewing direction, colour cast, brightness, blur, noise and JPEG
quality. Scenes hold clutter painted in clothing colours, passers-by and
objects occlude the figure, and the detection box jitters in position and
scale from frame to frame. Colours come from a shared palette, so many
identities share a shirt or trouser colour and only the combination (and the
pattern) tells them apart.

`difficulty` (0..1) scales the camera differences, clutter, occlusion and
jitter; `clutter` and `occlusion` (0..1, None: as difficulty) set those two
apart. Everything is drawn from one seeded generator.
"""
import dataclasses
import json
import math
import os
import shutil
import time
from typing import List, Optional, Tuple

import numpy as np
import scipy.io
from PIL import Image, ImageDraw, ImageFilter

from ..data.tracklets import JUNK_PID, load_frame
from .mars import load_mars

# Drawing happens at this multiple of the output size, then is downsampled,
# which anti-aliases the shapes.
SUPERSAMPLE = 2
MANIFEST = "synthetic.json"
DATASET_FOLDER = "synthetic"
SILHOUETTE_FOLDER = "silhouettes"
SPLIT_FOLDERS = ("bbox_train", "bbox_test")

CLOTHING = np.array([
    (28, 28, 32), (225, 225, 220), (125, 125, 130), (30, 40, 90), (50, 90, 180), (135, 170, 215),
    (180, 35, 40), (110, 30, 45), (45, 120, 60), (110, 110, 50), (220, 190, 50), (225, 120, 40),
    (220, 140, 170), (100, 60, 140), (110, 75, 45), (200, 180, 140), (40, 130, 130),
], dtype=np.float64)
# Trouser colours: dark, denim, grey, khaki, brown, white, olive.
BOTTOM_COLOURS = [0, 3, 4, 5, 2, 15, 14, 1, 9]
SKIN = np.array([(240, 200, 170), (220, 170, 130), (190, 140, 100), (150, 100, 70), (100, 70, 50)], dtype=np.float64)
HAIR = np.array([(20, 20, 20), (60, 40, 25), (110, 80, 40), (185, 150, 90), (150, 150, 150), (120, 50, 30)],
                dtype=np.float64)
PATTERNS = ("plain", "stripes", "checks", "logo", "two-tone")
VIEWS = ("front", "back", "left", "right")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    num_identities: int = 100           # half train, half test (train_fraction)
    num_cameras: int = 4
    cameras_per_identity: Tuple[int, int] = (2, 4)   # inclusive range
    tracklets_per_camera: Tuple[int, int] = (1, 2)
    tracklet_length: Tuple[int, int] = (8, 24)
    num_distractors: int = 12           # pid 0 test tracklets: people of no identity
    num_junk: int = 6                   # pid -1 test tracklets: bad detections
    image_size: Tuple[int, int] = (128, 64)          # height, width
    difficulty: float = 0.5
    train_fraction: float = 0.5
    seed: int = 0
    clutter: Optional[float] = None     # scene clutter, 0..1; None: as difficulty
    occlusion: Optional[float] = None   # passers-by, bystanders, objects, 0..1; None: as difficulty

    def __post_init__(self):
        for name in ("image_size", "cameras_per_identity", "tracklets_per_camera", "tracklet_length"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name in ("difficulty", "clutter", "occlusion"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.num_cameras < 2 or not 2 <= self.cameras_per_identity[0] <= self.cameras_per_identity[1]:
            raise ValueError("identities must appear in at least 2 cameras, and there must be at least 2")
        if self.num_identities < 4 or not 0 < self.train_fraction < 1:
            raise ValueError("need at least 4 identities and a train fraction strictly between 0 and 1")
        if not 1 <= self.tracklet_length[0] <= self.tracklet_length[1] <= 999:
            raise ValueError("tracklet lengths must lie in 1..999 (MARS names have 3 frame digits)")
        if self.num_identities >= 9999:
            raise ValueError("MARS names have 4 pid digits: at most 9998 identities")

    @property
    def clutter_level(self) -> float:
        return self.difficulty if self.clutter is None else self.clutter

    @property
    def occlusion_level(self) -> float:
        return self.difficulty if self.occlusion is None else self.occlusion


@dataclasses.dataclass
class Appearance:
    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    top: np.ndarray
    top_secondary: np.ndarray
    pattern: str
    long_sleeves: bool
    bottom: np.ndarray
    shorts: bool
    shoes: np.ndarray
    backpack: Optional[np.ndarray]
    height: float            # relative to the frame
    width: float             # relative build
    gait_period: float       # frames per walking cycle
    stride: float            # leg swing, radians


@dataclasses.dataclass
class Camera:
    background: np.ndarray   # panorama, (H, 4W, 3) at drawing scale
    gain: np.ndarray         # per-channel colour cast
    brightness: float
    blur: float
    noise: float
    jpeg_quality: int
    view: str                # the usual walking direction seen by this camera
    scale: float             # person size in this camera


def jittered(colour, rng, amount):
    return np.clip(colour + rng.normal(0, amount, 3), 0, 255)


def random_appearance(rng) -> Appearance:
    top, secondary = rng.choice(len(CLOTHING), 2, replace=False)
    has_backpack = rng.random() < 0.35
    return Appearance(
        skin=jittered(SKIN[rng.integers(len(SKIN))], rng, 6),
        hair=jittered(HAIR[rng.integers(len(HAIR))], rng, 6),
        long_hair=bool(rng.random() < 0.3),
        top=jittered(CLOTHING[top], rng, 10),
        top_secondary=jittered(CLOTHING[secondary], rng, 10),
        pattern=PATTERNS[rng.integers(len(PATTERNS))],
        long_sleeves=bool(rng.random() < 0.5),
        bottom=jittered(CLOTHING[BOTTOM_COLOURS[rng.integers(len(BOTTOM_COLOURS))]], rng, 10),
        shorts=bool(rng.random() < 0.2),
        shoes=jittered(CLOTHING[rng.choice([0, 1, 2, 14])], rng, 8),
        backpack=jittered(CLOTHING[rng.integers(len(CLOTHING))], rng, 10) if has_backpack else None,
        height=float(rng.uniform(0.82, 0.95)),
        width=float(rng.uniform(0.85, 1.15)),
        gait_period=float(rng.uniform(8, 14)),
        stride=float(rng.uniform(0.35, 0.55)),
    )


def distinct_appearances(count, rng) -> List[Appearance]:
    """Appearances that differ in at least their main clothing colours or pattern."""
    appearances, seen = [], set()
    while len(appearances) < count:
        appearance = random_appearance(rng)
        key = (tuple(np.round(appearance.top, -1)), tuple(np.round(appearance.bottom, -1)), appearance.pattern)
        if key not in seen or len(seen) >= count * 4:
            seen.add(key)
            appearances.append(appearance)
    return appearances


def scene_panorama(height, width, clutter, rng) -> np.ndarray:
    """A camera's scene: wall and floor with texture, fixtures, and clutter
    painted in clothing colours (so colour alone does not find the person)."""
    horizon = int(height * rng.uniform(0.45, 0.7))
    # Muted, mostly grey surfaces, as in station and campus footage.
    wall, floor = (np.clip(rng.uniform(low, high) + rng.normal(0, 18, 3), 0, 255) for low, high in ((80, 200), (60, 160)))
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width, horizon], fill=tuple(int(c) for c in wall))
    draw.rectangle([0, horizon, width, height], fill=tuple(int(c) for c in floor))
    step = int(rng.integers(height // 10, height // 4))
    texture = tuple(int(c) for c in np.clip(wall * rng.uniform(0.7, 0.9), 0, 255))
    if rng.random() < 0.5:  # bricks or panels
        for y in range(0, horizon, step):
            draw.line([0, y, width, y], fill=texture, width=2)
    for x in range(0, width, step * 2):  # floor tiles / wall columns
        draw.line([x, horizon, x - (height - horizon), height], fill=texture, width=2)
    for _ in range(int(width / height * (1 + 5 * clutter))):
        colour = jittered(CLOTHING[rng.integers(len(CLOTHING))], rng, 15)
        x, w = rng.uniform(0, width), rng.uniform(0.05, 0.2) * height
        top, bottom = sorted(rng.uniform(0.05, 1.0, 2) * height)
        shape = draw.ellipse if rng.random() < 0.3 else draw.rectangle
        shape([x, top, x + w, max(bottom, top + 4)], fill=tuple(int(c) for c in colour))
    noise = rng.normal(0, 6, (height, width, 1))
    return np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255)


def random_camera(size, difficulty, clutter, rng) -> Camera:
    height, width = size
    spread = 0.05 + 0.25 * difficulty
    return Camera(
        background=scene_panorama(height, width * 4, clutter, rng),
        gain=np.clip(1 + rng.normal(0, spread / 2, 3), 0.6, 1.4),
        brightness=float(np.clip(1 + rng.normal(0, spread), 0.55, 1.45)),
        blur=float(rng.uniform(0, 1.2 * difficulty)),
        noise=float(2 + 6 * difficulty * rng.random()),
        jpeg_quality=int(rng.integers(70, 96)),
        view=VIEWS[rng.integers(len(VIEWS))],
        scale=float(rng.uniform(0.92, 1.0) - 0.1 * difficulty * rng.random()),
    )


def rgb(colour, shade=1.0):
    return tuple(int(c) for c in np.clip(np.asarray(colour) * shade, 0, 255))


def limb(draw, start, angle, length, width, colour):
    """A limb from `start` at `angle` (radians from straight down); returns its end."""
    end = (start[0] + length * math.sin(angle), start[1] + length * math.cos(angle))
    draw.line([start, end], fill=rgb(colour), width=max(1, int(width)))
    return end


def pattern_layer(appearance, size, unit, view):
    """The torso's cloth, (h, w, 3): the pattern in the identity's colours."""
    h, w = size
    top, second = appearance.top, appearance.top_secondary
    ys, xs = np.mgrid[0:h, 0:w]
    cloth = np.empty((h, w, 3))
    cloth[:] = top
    band = max(2, int(unit * 0.035))
    if appearance.pattern == "stripes":
        cloth[(ys // band) % 2 == 1] = second
    elif appearance.pattern == "checks":
        cloth[((ys // (2 * band)) + (xs // (2 * band))) % 2 == 1] = second
    elif appearance.pattern == "two-tone":
        cloth[ys > h // 2] = second
    elif appearance.pattern == "logo" and view == "front":
        cy, cx, r = h * 0.35, w * 0.5, min(h, w) * 0.22
        cloth[(ys - cy) ** 2 + (xs - cx) ** 2 < r * r] = second
    return cloth.astype(np.uint8)


def draw_person(image, appearance, view, phase, centre_x, feet_y, height, shade=1.0):
    """A walking figure, feet at (centre_x, feet_y), `height` pixels tall,
    at `phase` (radians) of its walking cycle, seen from `view`."""
    draw = ImageDraw.Draw(image)
    unit = height
    side = view in ("left", "right")
    facing = 1 if view == "right" else -1
    bob = 0.015 * unit * abs(math.cos(phase))
    head_r = 0.065 * unit
    shoulder_y = feet_y - 0.83 * unit + bob
    hip_y = feet_y - 0.48 * unit + bob
    half_width = (0.12 if side else 0.19) * unit * appearance.width
    leg_width, arm_width = 0.1 * unit * appearance.width, 0.065 * unit * appearance.width
    leg_length, arm_length = 0.47 * unit, 0.36 * unit
    swing = appearance.stride * math.sin(phase)

    def legs_and_arms(near):
        # In side views the far limbs are drawn first and darker; in front
        # and back views the legs lift alternately.
        sign = 1 if near else -1
        dim = 1.0 if near else 0.75
        if side:
            hip = (centre_x, hip_y)
            knee = limb(draw, hip, facing * sign * swing, leg_length / 2, leg_width, appearance.bottom * dim * shade)
            bend = facing * (sign * swing - 0.5 * max(0.0, -sign * math.sin(phase + 0.6)))
            lower = appearance.bottom if not appearance.shorts else appearance.skin
            foot = limb(draw, knee, bend, leg_length / 2, leg_width * 0.85, lower * dim * shade)
            draw.ellipse([foot[0] - leg_width * 0.6 + facing * leg_width * 0.3, foot[1] - leg_width * 0.35,
                          foot[0] + leg_width * 0.6 + facing * leg_width * 0.3, foot[1] + leg_width * 0.35],
                         fill=rgb(appearance.shoes, dim * shade))
            shoulder = (centre_x, shoulder_y + 0.03 * unit)
            elbow = limb(draw, shoulder, -facing * sign * swing * 0.8, arm_length / 2, arm_width,
                         appearance.top * dim * shade)
            forearm = appearance.top if appearance.long_sleeves else appearance.skin
            limb(draw, elbow, -facing * sign * swing * 0.5 + facing * 0.3, arm_length / 2, arm_width * 0.9,
                 forearm * dim * shade)
            return
        for leg in (-1, 1):
            lift = 0.06 * unit * max(0.0, leg * math.sin(phase))
            hip = (centre_x + leg * half_width * 0.45, hip_y)
            knee = limb(draw, hip, 0.0, leg_length / 2, leg_width, appearance.bottom * shade)
            lower = appearance.bottom if not appearance.shorts else appearance.skin
            foot = limb(draw, knee, 0.0, leg_length / 2 - lift, leg_width * 0.85, lower * shade)
            draw.ellipse([foot[0] - leg_width * 0.5, foot[1] - leg_width * 0.3,
                          foot[0] + leg_width * 0.5, foot[1] + leg_width * 0.3], fill=rgb(appearance.shoes, shade))
        for arm in (-1, 1):
            shoulder = (centre_x + arm * half_width * 0.95, shoulder_y + 0.03 * unit)
            elbow = limb(draw, shoulder, arm * 0.12, arm_length / 2 - 0.04 * unit * arm * swing, arm_width,
                         appearance.top * shade)
            forearm = appearance.top if appearance.long_sleeves else appearance.skin
            limb(draw, elbow, arm * 0.05, arm_length / 2, arm_width * 0.9, forearm * shade)

    if side:
        legs_and_arms(near=False)
    else:
        legs_and_arms(near=True)
    backpack_visible = appearance.backpack is not None and view != "front"
    if backpack_visible and side:  # behind the torso
        bx = centre_x - facing * half_width * 1.3
        draw.rounded_rectangle([bx - half_width * 0.8, shoulder_y + 0.03 * unit, bx + half_width * 0.8, hip_y - 0.04 * unit],
                               radius=max(1, int(0.02 * unit)), fill=rgb(appearance.backpack, shade))

    # Torso: the cloth pattern pasted through a torso-shaped mask.
    box = [int(centre_x - half_width), int(shoulder_y), int(centre_x + half_width) + 1, int(hip_y + 0.05 * unit) + 1]
    size = (box[3] - box[1], box[2] - box[0])
    if size[0] > 0 and size[1] > 0:
        mask = Image.new("L", (size[1], size[0]), 0)
        ImageDraw.Draw(mask).rounded_rectangle([0, 0, size[1] - 1, size[0] - 1], radius=max(1, int(0.04 * unit)),
                                               fill=255)
        cloth = pattern_layer(appearance, size, unit, view).astype(np.float64) * shade
        image.paste(Image.fromarray(np.clip(cloth, 0, 255).astype(np.uint8)), box[:2], mask)
    if backpack_visible and view == "back":
        draw.rounded_rectangle([centre_x - half_width * 0.7, shoulder_y + 0.05 * unit,
                                centre_x + half_width * 0.7, hip_y - 0.06 * unit],
                               radius=max(1, int(0.03 * unit)), fill=rgb(appearance.backpack, shade))
    elif appearance.backpack is not None and view == "front":  # straps only
        for strap in (-1, 1):
            x = centre_x + strap * half_width * 0.55
            draw.line([x, shoulder_y, x, shoulder_y + 0.2 * unit], fill=rgb(appearance.backpack, shade),
                      width=max(1, int(0.02 * unit)))

    # Head: face, hair on top, all hair from the back; long hair on the shoulders.
    head_y = shoulder_y - head_r * 1.1
    head = [centre_x - head_r, head_y - head_r, centre_x + head_r, head_y + head_r]
    draw.ellipse(head, fill=rgb(appearance.hair if view == "back" else appearance.skin, shade))
    if view != "back":
        draw.chord(head, 180 if not side else (150 if facing > 0 else 210), 0 if not side else (360 if facing > 0 else 30),
                   fill=rgb(appearance.hair, shade))
    if appearance.long_hair:
        draw.rectangle([centre_x - head_r * (0.3 if side else 1.0) - (facing * head_r * 0.6 if side else 0), head_y,
                        centre_x + head_r * (0.3 if side else 1.0) - (facing * head_r * 0.6 if side else 0),
                        shoulder_y + 0.08 * unit], fill=rgb(appearance.hair, shade))
    if side:
        legs_and_arms(near=True)


def finish(canvas, camera, tracklet_light, rng, size):
    """Camera optics on a drawn frame, at the output size: downsampling,
    blur, colour cast, brightness and sensor noise."""
    image = canvas.resize((size[1], size[0]), Image.BILINEAR)
    if camera.blur > 0.15:
        image = image.filter(ImageFilter.GaussianBlur(camera.blur))
    pixels = np.asarray(image, dtype=np.float32) * (camera.gain * camera.brightness * tracklet_light).astype(np.float32)
    pixels += rng.normal(0, camera.noise, pixels.shape[:2] + (1,)).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def painted(appearance: Appearance, level: int) -> Appearance:
    """`appearance` with every colour (backpack included) the grey `level`:
    the same figure, drawn as a mask."""
    colour = np.full(3, float(level))
    return dataclasses.replace(appearance, skin=colour, hair=colour, top=colour, top_secondary=colour,
                               bottom=colour, shoes=colour,
                               backpack=None if appearance.backpack is None else colour)


def downsampled_silhouette(drawing, size):
    """A silhouette drawn at drawing scale (anything not black is the target;
    far limbs are dimmed) as a 0/255 "L" image of the output size, resized as
    finish() resizes the frame."""
    covered = drawing.convert("L").point(lambda v: 255 if v > 0 else 0)
    small = covered.resize((size[1], size[0]), Image.BILINEAR)
    return small.point(lambda v: 255 if v >= 128 else 0)


def someone_else(people, appearance, rng):
    """A random person of `people` other than `appearance`."""
    while True:
        person = people[rng.integers(len(people))]
        if person is not appearance:
            return person


def render_tracklet(appearance: Optional[Appearance], camera: Camera, length, others, config, rng):
    """The frames of one tracklet and their silhouettes, as two lists of PIL
    images (RGB and "L"). `appearance` None draws a junk detection: mostly
    scene, at most a fragment of someone, and an empty silhouette."""
    height, width = (s * SUPERSAMPLE for s in config.image_size)
    difficulty, occlusion = config.difficulty, config.occlusion_level
    view = camera.view if rng.random() < 0.75 else VIEWS[rng.integers(len(VIEWS))]
    side = view in ("left", "right")
    direction = 1 if view == "right" else -1
    pan_x = rng.uniform(0, camera.background.shape[1] - width)
    pan_speed = direction * rng.uniform(0.01, 0.03) * width if side else 0.0
    phase, light = rng.uniform(0, 2 * math.pi), rng.uniform(1 - 0.15 * difficulty, 1 + 0.15 * difficulty)
    person_height = camera.scale * height * (appearance.height if appearance else rng.uniform(0.8, 0.95))
    approach = 0.0 if side else rng.uniform(-0.01, 0.01)  # towards or away from the camera
    offset = np.zeros(3)  # x, y, scale: a random walk, as detection boxes drift
    jitter = np.array([0.02 + 0.05 * difficulty, 0.01 + 0.02 * difficulty, 0.02 + 0.05 * difficulty])

    passer = someone_else(others, appearance, rng) if rng.random() < 0.5 * occlusion else None
    passer_start, passer_speed = rng.uniform(-0.4, 1.4) * width, rng.choice([-1, 1]) * rng.uniform(0.03, 0.08) * width
    bystander = someone_else(others, appearance, rng) if rng.random() < 0.6 * occlusion else None
    bystander_x = rng.choice([-0.45, 1.45]) * width * rng.uniform(0.8, 1.0)
    bystander_view = VIEWS[rng.integers(len(VIEWS))]
    occluder = None
    if rng.random() < 0.4 * occlusion:
        occluder_colour = jittered(CLOTHING[rng.integers(len(CLOTHING))], rng, 15)
        occluder_top = height * rng.uniform(0.55, 0.85)
        occluder = (rng.uniform(0, camera.background.shape[1]), rng.uniform(0.15, 0.5) * width,
                    occluder_top, occluder_colour)
    fragment = None if appearance else (someone_else(others, None, rng), rng.choice([-0.42, 1.42]) * width)
    gait = appearance.gait_period if appearance else rng.uniform(8, 14)
    # The silhouette is drawn beside the frame with the same geometry and no
    # random draws, so the frames are those drawn without it: the target in
    # white, what stands in front of it in black; the bystander stands behind.
    target_mask = painted(appearance, 255) if appearance is not None else None
    passer_mask = painted(passer, 0) if passer is not None else None

    frames, silhouettes = [], []
    for t in range(length):
        offset = np.clip(offset + rng.normal(0, 1, 3) * jitter / 2, -jitter * 2, jitter * 2)
        x0 = int(np.clip(pan_x + pan_speed * t, 0, camera.background.shape[1] - width))
        canvas = Image.fromarray(camera.background[:, x0:x0 + width].astype(np.uint8))
        silhouette = Image.new("RGB", (width, height))
        scale = (1 + offset[2]) * (1 + approach * t)
        feet_y = height * (0.97 + offset[1])
        walking = phase + 2 * math.pi * t / gait
        if bystander is not None:
            draw_person(canvas, bystander, bystander_view, walking + 1.0, bystander_x, feet_y * 0.98,
                        person_height * scale * 0.97, shade=0.9)
        if appearance is not None:
            for image, person in ((canvas, appearance), (silhouette, target_mask)):
                draw_person(image, person, view, walking, width * (0.5 + offset[0]), feet_y, person_height * scale)
        else:
            other, x = fragment
            draw_person(canvas, other, view, walking, x, feet_y, person_height * scale)
        if passer is not None:
            for image, person in ((canvas, passer), (silhouette, passer_mask)):
                draw_person(image, person, "right" if passer_speed > 0 else "left", walking * 1.3,
                            passer_start + passer_speed * t, height * 1.02, person_height * 1.1)
        if occluder is not None:
            ox, ow, otop, colour = occluder
            left = ox - x0
            ImageDraw.Draw(canvas).rectangle([left, otop, left + ow, height], fill=rgb(colour))
            ImageDraw.Draw(silhouette).rectangle([left, otop, left + ow, height], fill=(0, 0, 0))
        frames.append(finish(canvas, camera, light, rng, config.image_size))
        silhouettes.append(downsampled_silhouette(silhouette, config.image_size))
    return frames, silhouettes


@dataclasses.dataclass
class _SplitWriter:
    """Writes one MARS split: frames under its folder, their silhouettes
    under SILHOUETTE_FOLDER/<its folder>, names and track rows."""
    dataset_dir: str
    folder: str
    names: List[str] = dataclasses.field(default_factory=list)
    rows: List[List[int]] = dataclasses.field(default_factory=list)
    counters: dict = dataclasses.field(default_factory=dict)

    def add(self, frames, silhouettes, pid, camera, jpeg_quality):
        pid_text = "00-1" if pid == JUNK_PID else f"{pid:04d}"
        number = self.counters[(pid, camera)] = self.counters.get((pid, camera), 0) + 1
        directory = os.path.join(self.dataset_dir, self.folder, pid_text)
        os.makedirs(directory, exist_ok=True)
        os.makedirs(os.path.join(self.dataset_dir, SILHOUETTE_FOLDER, self.folder, pid_text), exist_ok=True)
        first = len(self.names) + 1
        for index, (frame, silhouette) in enumerate(zip(frames, silhouettes), 1):
            name = f"{pid_text}C{camera}T{number:04d}F{index:03d}.jpg"
            path = os.path.join(directory, name)
            frame.save(path, quality=jpeg_quality)
            silhouette.save(silhouette_path(path))
            self.names.append(name)
        self.rows.append([first, len(self.names), pid, camera])
        return len(self.rows)

    def write_info(self, split):
        info = os.path.join(self.dataset_dir, "info")
        with open(os.path.join(info, f"{split}_name.txt"), "w") as file:
            file.write("\n".join(self.names) + "\n")
        # MARS stores the rows as doubles, as MATLAB does.
        scipy.io.savemat(os.path.join(info, f"tracks_{split}_info.mat"),
                         {f"track_{split}_info": np.array(self.rows, dtype=np.float64)})


def generate(dataset_dir, config: SyntheticConfig = SyntheticConfig(), verbose: bool = True) -> dict:
    """Writes the dataset into `dataset_dir` (created; must not hold one
    already) and returns its manifest."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    os.makedirs(os.path.join(dataset_dir, "info"))
    cameras = [random_camera(tuple(s * SUPERSAMPLE for s in config.image_size), config.difficulty,
                             config.clutter_level, rng) for _ in range(config.num_cameras)]
    appearances = distinct_appearances(config.num_identities + config.num_distractors, rng)
    identities, distractors = appearances[:config.num_identities], appearances[config.num_identities:]
    num_train = max(2, min(config.num_identities - 2, round(config.num_identities * config.train_fraction)))
    train, test = (_SplitWriter(dataset_dir, folder) for folder in SPLIT_FOLDERS)
    query_rows = []

    def tracklet(appearance, camera):
        length = int(rng.integers(config.tracklet_length[0], config.tracklet_length[1] + 1))
        return render_tracklet(appearance, cameras[camera], length, appearances, config, rng)

    for index, appearance in enumerate(identities):
        pid, writer = index + 1, train if index < num_train else test
        count = rng.integers(config.cameras_per_identity[0], min(config.cameras_per_identity[1], config.num_cameras) + 1)
        seen_by = sorted(rng.choice(config.num_cameras, count, replace=False))
        # Test identities: the first tracklet of every camera but one is a
        # query, so every query has a true match left in the gallery.
        query_cameras = set(rng.permutation(seen_by)[1:]) if writer is test else set()
        for camera in seen_by:
            for number in range(rng.integers(config.tracklets_per_camera[0], config.tracklets_per_camera[1] + 1)):
                row = writer.add(*tracklet(appearance, camera), pid, camera + 1, cameras[camera].jpeg_quality)
                if number == 0 and camera in query_cameras:
                    query_rows.append(row)
    for pid, people in ((0, distractors), (JUNK_PID, [None] * config.num_junk)):
        for appearance in people:
            camera = int(rng.integers(config.num_cameras))
            test.add(*tracklet(appearance, camera), pid, camera + 1, cameras[camera].jpeg_quality)

    train.write_info("train")
    test.write_info("test")
    scipy.io.savemat(os.path.join(dataset_dir, "info", "query_IDX.mat"),
                     {"query_IDX": np.array([query_rows], dtype=np.float64)})
    manifest = {"config": dataclasses.asdict(config), "train_frames": len(train.names),
                "test_frames": len(test.names), "silhouettes": SILHOUETTE_FOLDER,
                "seconds": round(time.perf_counter() - started, 2)}
    with open(os.path.join(dataset_dir, MANIFEST), "w") as file:
        json.dump(manifest, file, indent=2)
    if verbose:
        print(f"=> synthetic dataset written to {dataset_dir}: {len(train.names) + len(test.names)} frames"
              f" in {manifest['seconds']} s")
    return manifest


def as_json(config: SyntheticConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))  # tuples as JSON lists


def ensure_dataset(root, config: SyntheticConfig = SyntheticConfig(), verbose: bool = True,
                   regenerate: bool = False) -> str:
    """The dataset folder under `root`, generated unless it already holds one
    made with the same settings (and `regenerate` is false). One made with
    other settings (recognised by its manifest) is replaced; a folder without
    a manifest is never touched."""
    dataset_dir = os.path.join(root, DATASET_FOLDER)
    manifest_path = os.path.join(dataset_dir, MANIFEST)
    if os.path.isfile(manifest_path):
        with open(manifest_path) as file:
            # Settings added since the manifest was written had their defaults then.
            stored = {**as_json(SyntheticConfig()), **json.load(file).get("config", {})}
        if stored == as_json(config) and not regenerate:
            return dataset_dir
        shutil.rmtree(dataset_dir)
    elif os.path.exists(dataset_dir):
        raise FileExistsError(f"{dataset_dir} exists but holds no {MANIFEST}: not a synthetic dataset, left as is")
    generate(dataset_dir, config, verbose)
    return dataset_dir


def load_synthetic(root, *, verbose: bool = True, regenerate: bool = False, **settings):
    """The synthetic dataset under `root` (generated on first use with
    `settings`, the fields of SyntheticConfig, or again with `regenerate`),
    read by the MARS loader."""
    dataset_dir = ensure_dataset(root, SyntheticConfig(**settings), verbose, regenerate)
    return load_mars(dataset_dir, verbose=verbose, name="synthetic (MARS layout)")


def silhouette_path(frame_path: str) -> str:
    """<dataset_dir>/<split folder>/<pid>/<name>.jpg ->
    <dataset_dir>/SILHOUETTE_FOLDER/<split folder>/<pid>/<name>.png"""
    pid_dir, name = os.path.split(frame_path)
    split_dir, pid = os.path.split(pid_dir)
    dataset_dir, split = os.path.split(split_dir)
    stem, extension = os.path.splitext(name)
    if split not in SPLIT_FOLDERS or not pid or not stem or extension != ".jpg":
        raise ValueError(f"{frame_path} is not a frame of the synthetic dataset: expected"
                         f" <dataset_dir>/{'|'.join(SPLIT_FOLDERS)}/<pid>/<name>.jpg")
    return os.path.join(dataset_dir, SILHOUETTE_FOLDER, split, pid, stem + ".png")


def load_silhouette(frame_path: str) -> np.ndarray:
    """The silhouette of a synthetic frame, (H, W) bool, True where the
    tracklet's person is visible."""
    path = silhouette_path(frame_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no silhouette {path} for {frame_path}: the dataset was generated before silhouettes existed, or"
            f" is not a synthetic one; regenerate it by deleting its folder, or with"
            f" `cosam-reid synth --regenerate` (and the settings it was made with)")
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) >= 128


def frame_has_silhouette(frame) -> bool:
    """Whether a frame (a path) has a silhouette beside it: a frame of a
    synthetic set generated with them."""
    try:
        return os.path.isfile(silhouette_path(frame))
    except (TypeError, ValueError):  # an in-memory frame, or a path not laid out as a synthetic frame
        return False


def has_silhouettes(dataset_dir) -> bool:
    return os.path.isdir(os.path.join(dataset_dir, SILHOUETTE_FOLDER))


def contact_sheet(dataset, path, identities=8, tracklets_per_identity=4, frames_per_tracklet=4):
    """A PNG of the first test identities: one row per identity, a few
    frames from each of its tracklets (cameras) side by side."""
    by_pid = {}
    for tracklet in list(dataset.query) + list(dataset.gallery):
        if tracklet.pid > 0:
            by_pid.setdefault(tracklet.pid, []).append(tracklet)
    rows = []
    for pid in sorted(by_pid)[:identities]:
        tiles = []
        for tracklet in by_pid[pid][:tracklets_per_identity]:
            step = max(1, len(tracklet.frames) // frames_per_tracklet)
            tiles += [np.asarray(load_frame(f)) for f in tracklet.frames[::step][:frames_per_tracklet]]
            tiles.append(np.full_like(tiles[-1][:, :4], 255))  # a gap between tracklets
        rows.append(np.concatenate(tiles, axis=1))
    width = max(row.shape[1] for row in rows)
    sheet = np.concatenate([np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255)
                            for row in rows])
    Image.fromarray(sheet).save(path)
