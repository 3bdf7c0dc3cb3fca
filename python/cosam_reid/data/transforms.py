"""Per-frame transforms with PIL and torch (no torchvision).

Each call takes the frame and a random.Random: the clip's generator, seeded by
the sampler, so that a clip's augmentation is reproducible wherever and
whenever it is drawn. Each frame draws its own crop and flip, as the authors'
training code (built on Gao and Nevatia's) does.
"""
import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Frames are enlarged by this factor before the random crop back to the input size.
CROP_ENLARGEMENT = 1.125


def to_normalised_tensor(image):
    """(3, H, W) float32, ImageNet-normalised."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (tensor - mean) / std


class EvalTransform:
    """Resize to input_size (H, W) and normalise."""

    def __init__(self, input_size):
        self.height, self.width = input_size

    def __call__(self, image, rng=None):
        return to_normalised_tensor(image.resize((self.width, self.height), Image.BILINEAR))


class TrainTransform:
    """Resize to 1.125 x input_size, random crop to input_size, random
    horizontal flip, normalise."""

    def __init__(self, input_size, flip_probability=0.5):
        self.height, self.width = input_size
        self.flip_probability = flip_probability

    def __call__(self, image, rng):
        enlarged_height = round(self.height * CROP_ENLARGEMENT)
        enlarged_width = round(self.width * CROP_ENLARGEMENT)
        image = image.resize((enlarged_width, enlarged_height), Image.BILINEAR)
        top = rng.randint(0, enlarged_height - self.height)
        left = rng.randint(0, enlarged_width - self.width)
        image = image.crop((left, top, left + self.width, top + self.height))
        if rng.random() < self.flip_probability:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return to_normalised_tensor(image)
