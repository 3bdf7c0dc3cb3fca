import random

import numpy as np
import pytest
import torch
from PIL import Image

from cosam_reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform


def gradient_image(height=40, width=20):
    """Red grows left to right, green top to bottom: crops and flips show in the values."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    array[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    return Image.fromarray(array)


def unnormalise(tensor):
    return tensor * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]


def test_eval_transform_resizes_and_normalises():
    image = Image.new("RGB", (10, 30), (255, 0, 128))
    tensor = EvalTransform((16, 8))(image)
    assert tensor.shape == (3, 16, 8) and tensor.dtype == torch.float32
    expected = (torch.tensor([1.0, 0.0, 128 / 255]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(tensor[:, 5, 3], expected)


def test_train_transform_crops_the_enlarged_frame_and_flips():
    transform = TrainTransform((32, 16))
    image = gradient_image()
    flipped, kept = 0, 0
    offsets = set()
    for seed in range(40):
        tensor = unnormalise(transform(image, random.Random(seed)))
        assert tensor.shape == (3, 32, 16)
        red = tensor[0, 0]
        if red[0] > red[-1]:
            flipped += 1
        else:
            kept += 1
        # The enlarged frame is 36x18: the crop starts in rows 0..4.
        offsets.add(round(tensor[1, 0, 0].item() * 35))
    assert flipped > 5 and kept > 5
    assert len(offsets) > 1 and max(offsets) <= 5


def test_train_transform_is_a_function_of_the_generator():
    transform = TrainTransform((32, 16))
    image = gradient_image()
    first = transform(image, random.Random(3))
    assert torch.equal(first, transform(image, random.Random(3)))
    assert any(not torch.equal(first, transform(image, random.Random(seed))) for seed in range(4, 8))


def test_no_flip_when_probability_is_zero():
    transform = TrainTransform((32, 16), flip_probability=0.0)
    for seed in range(10):
        red = unnormalise(transform(gradient_image(), random.Random(seed)))[0, 0]
        assert red[0] < red[-1]


@pytest.mark.parametrize("size", [(64, 32), (256, 128)])
def test_sizes(size):
    assert TrainTransform(size)(gradient_image(), random.Random(0)).shape == (3, *size)
