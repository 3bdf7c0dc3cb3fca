"""One training step of the video re-ID model: ResNet50 with COSAM after
blocks {4, 5} and {2, 3, 4, 5} against the plain backbone.

The step is the engine's: forward, label-smoothed cross-entropy + batch-hard
triplet loss on a P x K batch, backward, Adam.
"""
import pytest
import torch

import cases
from cosam_reid.losses import ReIDLoss
from cosam_reid.models import build_model

COSAM_BLOCKS = {"plain": (), "cosam45": (4, 5), "cosam2345": (2, 3, 4, 5)}
NUM_CLASSES = 625
#: K, clips per identity in the P x K batch.
INSTANCES = 4


@pytest.mark.parametrize("blocks", list(COSAM_BLOCKS), ids=list(COSAM_BLOCKS))
def test_training_step(benchmark, device, smoke, blocks):
    # Smoke: 2 identities x 2 clips on small frames, enough for the triplet term.
    clips, frames, instances, input_size = (4, 4, 2, (64, 32)) if smoke else (8, 4, INSTANCES, (256, 128))
    model = build_model(
        "resnet50", cosam_blocks=COSAM_BLOCKS[blocks], num_frames=frames, num_classes=NUM_CLASSES,
        input_size=input_size,
    ).to(device).train()
    criterion = ReIDLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=5e-4)

    def setup():
        videos = torch.randn(clips, frames, 3, *input_size, device=device)
        identities = torch.randperm(NUM_CLASSES, device=device)[: clips // instances]
        return (videos, identities.repeat_interleave(instances)), {}

    def step(videos, labels):
        optimizer.zero_grad(set_to_none=True)
        criterion(model(videos), labels).total.backward()
        optimizer.step()
        cases.synchronize(device)

    benchmark.group = f"{device} model training step B{clips}N{frames} {input_size[0]}x{input_size[1]}"
    benchmark.extra_info.update(device=device, blocks=COSAM_BLOCKS[blocks], input_size=input_size)
    benchmark.pedantic(step, setup=setup, rounds=1 if smoke else 5, warmup_rounds=0 if smoke else 1)
