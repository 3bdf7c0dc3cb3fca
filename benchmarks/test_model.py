"""One training step of the video re-ID model: ResNet50 with COSAM after
blocks {4, 5} and {2, 3, 4, 5} and the plain backbone, the three timed in
turn within each round, so that each variant's ratio to the plain step is
taken per round (report.py).

The step is the engine's: forward, label-smoothed cross-entropy + batch-hard
triplet loss on a P x K batch, backward, Adam.
"""
import torch

import cases
from conftest import MODEL_TARGET_SECONDS
from cosam_reid.losses import ReIDLoss
from cosam_reid.models import build_model

NUM_CLASSES = 625
#: K, clips per identity in the P x K batch.
INSTANCES = 4


def training_step(blocks, frames, input_size, device):
    """step((videos, labels)) of a freshly built model with COSAM after blocks."""
    model = build_model(
        "resnet50", cosam_blocks=blocks, num_frames=frames, num_classes=NUM_CLASSES, input_size=input_size,
    ).to(device).train()
    criterion = ReIDLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=5e-4)

    def step(inputs):
        videos, labels = inputs
        optimizer.zero_grad(set_to_none=True)
        criterion(model(videos), labels).total.backward()
        optimizer.step()

    return step


def test_training_step(measure_paired, benchmark, device, smoke):
    # Smoke: 2 identities x 2 clips on small frames, enough for the triplet term.
    clips, frames, instances, input_size = (4, 4, 2, (64, 32)) if smoke else (8, 4, INSTANCES, (256, 128))
    steps = {
        name: training_step(blocks, frames, input_size, device) for name, blocks in cases.MODEL_VARIANTS.items()
    }

    def make_inputs():
        videos = torch.randn(clips, frames, 3, *input_size, device=device)
        identities = torch.randperm(NUM_CLASSES, device=device)[: clips // instances]
        # Every variant steps on the same batch.
        return dict.fromkeys(steps, (videos, identities.repeat_interleave(instances)))

    benchmark.group = f"{device} model training step B{clips}N{frames} {input_size[0]}x{input_size[1]}"
    measure_paired(
        make_inputs=make_inputs,
        calls=steps,
        device=device,
        target_seconds=MODEL_TARGET_SECONDS,
        variants=cases.MODEL_VARIANTS,
        input_size=input_size,
    )
