"""The people of the synthetic dataset: each identity a walking figure with
its own build, gait, skin and hair, clothing colours and pattern (some seen
from the front only, such as a logo, some from the back only, such as a
backpack). Colours come from a shared palette, so many identities share a
shirt or trouser colour and only the combination (and the pattern) tells
them apart."""
import dataclasses
import math
from typing import List, Optional

import numpy as np
from PIL import Image, ImageDraw

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


def rgb(colour, shade=1.0):
    return tuple(int(min(255.0, max(0.0, c * shade))) for c in colour)


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
    radius = max(1, int(0.04 * unit))
    if size[0] > 0 and size[1] > 0 and appearance.pattern == "plain":  # no cloth to paste
        draw.rounded_rectangle([box[0], box[1], box[2] - 1, box[3] - 1], radius=radius, fill=rgb(appearance.top, shade))
    elif size[0] > 0 and size[1] > 0:
        mask = Image.new("L", (size[1], size[0]), 0)
        ImageDraw.Draw(mask).rounded_rectangle([0, 0, size[1] - 1, size[0] - 1], radius=radius, fill=255)
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


def painted(appearance: Appearance, colour) -> Appearance:
    """`appearance` with every colour (backpack included) `colour`: the same
    figure, drawn as a mask (plain: a pattern in one colour is none)."""
    colour = np.asarray(colour, dtype=np.float64)
    return dataclasses.replace(appearance, skin=colour, hair=colour, top=colour, top_secondary=colour,
                               pattern="plain", bottom=colour, shoes=colour,
                               backpack=None if appearance.backpack is None else colour)


def someone_else(people, appearance, rng):
    """A random person of `people` other than `appearance`."""
    while True:
        person = people[rng.integers(len(people))]
        if person is not appearance:
            return person
