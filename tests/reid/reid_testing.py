"""Helpers of the re-ID tests: tiny models, clips, an in-memory video re-ID
dataset and configs."""
import numpy as np
import torch

from cosam_reid.config import load_config
from cosam_reid.data.tracklets import Tracklet
from cosam_reid.engine.checkpoint import spec_payload
from cosam_reid.models import build_model

TINY_INPUT_SIZE = (64, 32)
TINY_FRAMES = 4

# The models here are tiny: threads buy little, and on a machine shared with
# other jobs, OpenMP threads waiting on busy cores make a step ten times slower.
torch.set_num_threads(1)


def tiny_model(backbone="resnet18", num_classes=7, **options):
    """A model for 64x32 frames, 4 per clip; options are ModelSpec fields."""
    options.setdefault("input_size", TINY_INPUT_SIZE)
    return build_model(backbone, num_classes=num_classes, num_frames=TINY_FRAMES, **options)


def save_model(model, path):
    """A checkpoint of model's spec and weights, as model_from_checkpoint reads it."""
    torch.save({"model_spec": spec_payload(model.spec), "model": model.state_dict()}, path)
    return path


def random_clips(batch=2, frames=TINY_FRAMES, size=TINY_INPUT_SIZE):
    return torch.randn(batch, frames, 3, *size)


def tiny_tracklets(num_identities=6, tracklets_per_identity=2, frames=(3, 6), seed=0, size=(72, 36)):
    """Identities are two-coloured figures (upper and lower body colours per
    identity) on noisy backgrounds; each tracklet shifts the figure a little
    from frame to frame. Frame counts are drawn from the range frames."""
    rng = np.random.default_rng(seed)
    height, width = size
    tracklets = []
    for pid in range(num_identities):
        upper, lower = rng.integers(0, 256, size=(2, 3))
        for camid in range(tracklets_per_identity):
            length = int(rng.integers(frames[0], frames[1] + 1))
            shift = int(rng.integers(-3, 4))
            clip = []
            for position in range(length):
                image = rng.integers(0, 256, size=(height, width, 3)).astype(np.float32) * 0.3
                left = width // 4 + (shift * position) % 4
                image[height // 8: height // 2, left: left + width // 2] = upper
                image[height // 2: height - height // 8, left: left + width // 2] = lower
                clip.append(image.clip(0, 255).astype(np.uint8))
            tracklets.append(Tracklet(tuple(clip), pid, camid))
    return tracklets


def tiny_config(output_dir, *overrides):
    """A resolved config for a seconds-long CPU run: ResNet18 with COSAM_4,5 on
    64x32 frames, N=4, 3 identities x 2 clips per batch."""
    return load_config(
        None,
        [
            "model.backbone=resnet18",
            "data.input_size=[64, 32]",
            "data.identities_per_batch=3",
            "data.instances_per_identity=2",
            "data.num_workers=0",
            "train.device=cpu",
            "train.epochs=2",
            f"train.output_dir={output_dir}",
            *overrides,
        ],
    )
