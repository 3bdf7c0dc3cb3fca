"""Frames: a file that is missing or that PIL cannot decode is an error that
names its path, also when it is met inside a loader worker."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cosam_reid.data.clips import ClipDataset
from cosam_reid.data.sampler import ClipRequest
from cosam_reid.data.tracklets import FrameDecodeError, Tracklet, load_frame
from cosam_reid.data.transforms import EvalTransform
from cosam_reid.evaluation import extract_features


def jpeg_bytes():
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 16, 3), 128, np.uint8)).save(buffer, format="jpeg")
    return buffer.getvalue()


@pytest.fixture
def frames(tmp_path):
    """A good frame, a file of garbage named .jpg, and a JPEG cut in half."""
    good, garbage, truncated = tmp_path / "good.jpg", tmp_path / "0001C1T0001F001.jpg", tmp_path / "cut.jpg"
    good.write_bytes(jpeg_bytes())
    garbage.write_bytes(b"this is not a JPEG" * 10)
    truncated.write_bytes(jpeg_bytes()[:200])
    return good, garbage, truncated


def test_a_frame_pil_cannot_decode_names_its_path(frames):
    good, garbage, truncated = frames
    assert load_frame(str(good)).size == (16, 32)
    for path in (garbage, truncated):
        for given in (str(path), path):
            with pytest.raises(FrameDecodeError, match="cannot decode the frame image") as raised:
                load_frame(given)
            assert str(path) in str(raised.value)
            assert isinstance(raised.value, OSError)


def test_a_missing_frame_names_its_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"frame image not found: {tmp_path / 'missing.jpg'}"):
        load_frame(str(tmp_path / "missing.jpg"))


def test_a_bad_frame_is_named_in_training_clips_and_from_loader_workers(frames):
    good, garbage, _ = frames
    tracklet = Tracklet((str(good), str(garbage)), pid=0, camid=0)
    clips = ClipDataset([tracklet], 2, lambda image, rng: torch.zeros(3, 32, 16))
    with pytest.raises(FrameDecodeError, match="cannot decode") as raised:
        clips[ClipRequest(0, 0)]
    assert str(garbage) in str(raised.value)
    # A DataLoader worker re-raises in the main process with the message kept.
    with pytest.raises(FrameDecodeError) as raised:
        extract_features(lambda batch: batch.mean((2, 3, 4)), [tracklet], EvalTransform((32, 16)), clip_length=2,
                         num_workers=1)
    assert str(garbage) in str(raised.value)
