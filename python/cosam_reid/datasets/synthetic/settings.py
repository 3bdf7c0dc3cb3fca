"""The generator's settings (SyntheticConfig), the version of the generator,
and the manifest (synthetic.json) that records both beside the data.

Each setting carries the `cosam-reid synth` flag that sets it, so that a
message about a dataset can name the exact command that would write it."""
import dataclasses
import json
import os
import shlex
from typing import Optional, Tuple

#: Raised whenever the same settings would draw other pixels or the layout
#: changes, so that a dataset on disk is never taken for what this generator
#: writes. 1: the scene fixed in the box (manifests without "generator");
#: 2: the tracked box, with clutter masks beside the silhouettes.
GENERATOR_VERSION = 2
MANIFEST = "synthetic.json"


def setting(default, flag, help_text, metavar=None):
    return dataclasses.field(default=default, metadata={"flag": flag, "help": help_text, "metavar": metavar})


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    num_identities: int = setting(100, "--identities", "identities, half train and half test (train_fraction)")
    num_cameras: int = setting(4, "--cameras", "cameras")
    cameras_per_identity: Tuple[int, int] = setting((2, 4), "--cameras-per-identity", "cameras seeing each identity",
                                                    ("MIN", "MAX"))
    tracklets_per_camera: Tuple[int, int] = setting((1, 2), "--tracklets-per-camera",
                                                    "tracklets of an identity per camera", ("MIN", "MAX"))
    tracklet_length: Tuple[int, int] = setting((8, 24), "--tracklet-length", "frames per tracklet", ("MIN", "MAX"))
    num_distractors: int = setting(12, "--distractors", "test tracklets of people of no identity (pid 0)")
    num_junk: int = setting(6, "--junk", "test tracklets of bad detections (pid -1)")
    image_size: Tuple[int, int] = setting((128, 64), "--size", "frame size", ("HEIGHT", "WIDTH"))
    difficulty: float = setting(0.5, "--difficulty", "0..1: camera differences, clutter, occlusion, box jitter")
    train_fraction: float = setting(0.5, "--train-fraction", "share of the identities in the train split")
    seed: int = setting(0, "--seed", "seed of the one generator everything is drawn from")
    clutter: Optional[float] = setting(None, "--clutter", "0..1: objects in clothing colours in the scenes")
    occlusion: Optional[float] = setting(None, "--occlusion", "0..1: how often passers-by, bystanders and objects "
                                                              "occlude")

    def __post_init__(self):
        for name in ("image_size", "cameras_per_identity", "tracklets_per_camera", "tracklet_length"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name in ("difficulty", "clutter", "occlusion"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
            object.__setattr__(self, name, None if value is None else float(value))  # 1 and 1.0 alike
        if self.num_cameras < 2 or not 2 <= self.cameras_per_identity[0] <= self.cameras_per_identity[1]:
            raise ValueError("identities must appear in at least 2 cameras, and there must be at least 2")
        if self.num_identities < 4 or not 0 < self.train_fraction < 1:
            raise ValueError("need at least 4 identities and a train fraction strictly between 0 and 1")
        if not 1 <= self.tracklet_length[0] <= self.tracklet_length[1] <= 999:
            raise ValueError("tracklet lengths must lie in 1..999 (MARS names have 3 frame digits)")
        if self.num_identities >= 9999:
            raise ValueError("MARS names have 4 pid digits: at most 9998 identities")
        if not 1 <= self.tracklets_per_camera[0] <= self.tracklets_per_camera[1]:
            raise ValueError("tracklets_per_camera must be a range of at least 1")
        if min(self.image_size) < 8 or self.image_size[1] > 2 * self.image_size[0]:
            raise ValueError(f"image_size {self.image_size}: at least 8x8, and at most twice as wide as high")

    @property
    def clutter_level(self) -> float:
        return self.difficulty if self.clutter is None else self.clutter

    @property
    def occlusion_level(self) -> float:
        return self.difficulty if self.occlusion is None else self.occlusion

    @classmethod
    def from_settings(cls, settings) -> "SyntheticConfig":
        """The config of a mapping of field names, with a one-line error naming an unknown one."""
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown synthetic dataset setting {', '.join(map(repr, unknown))}; the settings are "
                             f"{', '.join(SETTINGS)}")
        return cls(**settings)


#: The fields of SyntheticConfig, each with its metadata (flag, help, metavar).
SETTINGS = {field.name: field for field in dataclasses.fields(SyntheticConfig)}


def as_json(settings) -> dict:
    """Settings (a mapping of field names) as the manifest stores them: tuples as lists."""
    return json.loads(json.dumps(dict(settings)))


def synth_command(root, settings) -> str:
    """The `cosam-reid synth --regenerate` command line that rewrites the
    dataset of root with `settings` (a mapping of field names; unset ones
    are left out)."""
    words = ["cosam-reid", "synth", "--root", str(root), "--regenerate"]
    for name, value in settings.items():
        if value is not None:
            words += [SETTINGS[name].metadata["flag"], *map(str, value if isinstance(value, (tuple, list)) else [value])]
    return " ".join(shlex.quote(word) for word in words)


def describe(settings) -> str:
    return ", ".join(f"{name}={'None (as the difficulty)' if value is None else value}"
                     for name, value in as_json(settings).items())


def read_manifest(dataset_dir) -> Optional[dict]:
    """The manifest of dataset_dir, or None where it has none."""
    path = os.path.join(dataset_dir, MANIFEST)
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def write_manifest(dataset_dir, config: SyntheticConfig, **facts) -> dict:
    manifest = {"generator": GENERATOR_VERSION, "config": as_json(dataclasses.asdict(config)), **facts}
    with open(os.path.join(dataset_dir, MANIFEST), "w") as file:
        json.dump(manifest, file, indent=2)
    return manifest


def manifest_version(manifest: dict) -> int:
    return manifest.get("generator", 1)  # version 1 did not record itself


def recorded_settings(manifest: dict) -> dict:
    """Every setting of the dataset a manifest describes: those it records
    (that are still settings), the defaults for the rest."""
    defaults = as_json(dataclasses.asdict(SyntheticConfig()))
    return {**defaults, **{name: value for name, value in manifest.get("config", {}).items() if name in SETTINGS}}
