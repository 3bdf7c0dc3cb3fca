"""Dense and evenly test sampling, chunked feature extraction, and the
model-on-dataset pipeline."""
import numpy as np
import pytest
import torch

from cosam_reid.data.tracklets import Tracklet, VideoReIDDataset
from cosam_reid.evaluation import Protocol, clip_indices, configured_test_features, evaluate_model, extract_features


def test_dense_clips_cover_every_frame_and_cycle_the_last():
    assert clip_indices(10, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 8, 9]]
    assert clip_indices(8, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert clip_indices(3, 4) == [[0, 1, 2, 0]]
    assert clip_indices(9, 4)[-1] == [8, 8, 8, 8]


def test_evenly_spaced_frames():
    assert clip_indices(10, 4, "evenly", frames_per_tracklet=4) == [[0, 2, 5, 7]]
    assert clip_indices(16, 4, "evenly", frames_per_tracklet=8) == [[0, 2, 4, 6], [8, 10, 12, 14]]
    # Too short: all frames, then the last repeated (torchreid).
    assert clip_indices(2, 4, "evenly", frames_per_tracklet=4) == [[0, 1, 1, 1]]
    assert clip_indices(10, 4, "evenly", frames_per_tracklet=6) == [[0, 1, 3, 5], [6, 8, 6, 8]]
    with pytest.raises(ValueError, match="frames_per_tracklet"):
        clip_indices(10, 4, "evenly")
    with pytest.raises(ValueError, match="unknown test sampling"):
        clip_indices(10, 4, "random")


def frame(value):
    return np.full((4, 2, 3), value, dtype=np.uint8)


def to_tensor(image):
    return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)


class RecordingModel:
    """Feature of a clip: [mean value of its frames, value of its first frame];
    remembers the batch shapes it saw."""

    def __init__(self):
        self.shapes = []

    def __call__(self, clips):
        self.shapes.append(tuple(clips.shape))
        return torch.stack([clips.mean((1, 2, 3, 4)), clips[:, 0].mean((1, 2, 3))], dim=1)


def test_tracklet_feature_is_the_mean_of_its_clip_features():
    tracklet = Tracklet(frames=[frame(10 * i) for i in range(5)], pid=1, camid=0)
    features = extract_features(RecordingModel(), [tracklet], to_tensor, clip_length=2)
    # Clips [0, 1], [2, 3], [4, 4]: means 5, 25, 40; first frames 0, 20, 40.
    assert features.tolist() == [pytest.approx([70 / 3, 20.0])]


@pytest.mark.parametrize("clips_per_batch", [1, 2, 3, 5])
def test_chunked_extraction_equals_unchunked(clips_per_batch):
    rng = np.random.default_rng(0)
    tracklets = [Tracklet(frames=[frame(v) for v in rng.integers(0, 255, length)], pid=i, camid=0)
                 for i, length in enumerate([1, 7, 4, 12, 3])]
    whole = extract_features(RecordingModel(), tracklets, to_tensor, clip_length=4, clips_per_batch=100)
    model = RecordingModel()
    chunked = extract_features(model, tracklets, to_tensor, clip_length=4, clips_per_batch=clips_per_batch)
    assert torch.allclose(whole, chunked)
    # Memory bound: never more than clips_per_batch clips of N frames at once.
    assert max(shape[0] for shape in model.shapes) == clips_per_batch
    assert all(shape[1:] == (4, 3, 4, 2) for shape in model.shapes)


def test_loader_workers_give_the_same_features():
    rng = np.random.default_rng(1)
    tracklets = [Tracklet(frames=[frame(v) for v in rng.integers(0, 255, length)], pid=i, camid=0)
                 for i, length in enumerate([5, 9, 2])]
    in_process = extract_features(RecordingModel(), tracklets, to_tensor, clip_length=4, clips_per_batch=2)
    workers = extract_features(RecordingModel(), tracklets, to_tensor, clip_length=4, clips_per_batch=2,
                               num_workers=2)
    assert torch.equal(in_process, workers)


def test_module_is_evaluated_in_eval_mode_and_restored():
    class Pool(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dropout = torch.nn.Dropout(0.9)

        def forward(self, clips):
            assert not self.training
            return self.dropout(clips.mean((1, 3, 4)))

    model = Pool().train()
    tracklets = [Tracklet(frames=[frame(7)] * 3, pid=0, camid=0)]
    assert extract_features(model, tracklets, to_tensor, clip_length=2).tolist() == [[7.0, 7.0, 7.0]]
    assert model.training


def test_model_with_a_wrong_output_shape_is_reported():
    tracklets = [Tracklet(frames=[frame(1)] * 2, pid=0, camid=0)]
    with pytest.raises(ValueError, match=r"\(B, F\) features"):
        extract_features(lambda clips: clips, tracklets, to_tensor, clip_length=2)


def coloured_dataset():
    """Identity p is grey level 40 p; the gallery holds a distractor (pid 0)
    and cross-camera tracklets of each query identity."""
    def tracklet(pid, camid, level, length=5):
        return Tracklet(frames=[frame(level)] * length, pid=pid, camid=camid)

    return VideoReIDDataset(
        name="toy", train=[tracklet(0, 0, 10)],
        query=[tracklet(1, 0, 40), tracklet(2, 0, 80), tracklet(3, 1, 120)],
        gallery=[tracklet(3, 0, 125), tracklet(2, 1, 78), tracklet(0, 1, 42), tracklet(1, 1, 30, length=9)])


def mean_level(clips):
    return clips.mean((2, 3, 4))  # (B, N): one feature per frame position


def test_evaluate_model_on_a_dataset_prints_the_protocol():
    result = evaluate_model(mean_level, coloured_dataset(), to_tensor, clip_length=2,
                            protocol=Protocol(gallery_mode="torchreid"))
    # pid 1 (40) is nearer the distractor (42) than its match (30): R1 2/3.
    assert result.cmc[1] == pytest.approx(2 / 3) and result.cmc[5] == 1.0
    assert result.mAP == pytest.approx((1 / 2 + 1 + 1) / 3)
    text = str(result)
    assert "dataset: toy" in text and "dense: all frames in consecutive 2-frame clips" in text


def test_configured_features_take_clips_of_the_models_length_and_evaluation_frames_per_tracklet():
    """The model's num_frames is the clip length; evaluation.frames is how many
    frames "evenly" takes from each tracklet. With a 2-frame model and 6
    frames per tracklet, each tracklet of 5 becomes three 2-frame clips."""
    seen = []

    class TwoFrameModel(torch.nn.Module):
        spec = type("Spec", (), {"num_frames": 2, "input_size": (8, 4)})()

        def forward(self, clips):
            seen.append(tuple(clips.shape[:2]))
            return clips.mean((2, 3, 4))

    evaluation = type("Evaluation", (), {"sampling": "evenly", "frames": 6, "clips_per_batch": 100})()
    features = configured_test_features(TwoFrameModel(), coloured_dataset(), evaluation)
    assert seen == [(3 * 3, 2), (4 * 3, 2)]  # queries, then gallery: 3 clips of 2 frames each
    assert features.sampling == "evenly: 6 evenly spaced frames in 2-frame clips, clip features averaged"
