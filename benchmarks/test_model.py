"""One training step of the video re-ID model: ResNet50 with COSAM after
blocks {4, 5} and {2, 3, 4, 5} against the plain backbone.

The model arrives with issue 5 (python/cosam_reid); until then this module
skips. The builder call below is the expected entry point and is to be
checked against cosam_reid when it lands.
"""
import pytest
import torch

import cases

cosam_reid = pytest.importorskip("cosam_reid", reason="model not available yet (issue 5)")

COSAM_BLOCKS = {"plain": (), "cosam45": (4, 5), "cosam2345": (2, 3, 4, 5)}
INPUT_SIZE = (256, 128)


@pytest.mark.parametrize("blocks", list(COSAM_BLOCKS), ids=list(COSAM_BLOCKS))
def test_training_step(benchmark, device, smoke, blocks):
    clips, frames = (1, 4) if smoke else (8, 4)
    model = cosam_reid.models.build_model(
        "resnet50", cosam_blocks=COSAM_BLOCKS[blocks], num_frames=frames, num_classes=625
    ).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def setup():
        videos = torch.randn(clips, frames, 3, *INPUT_SIZE, device=device)
        labels = torch.randint(625, (clips,), device=device)
        return (videos, labels), {}

    def step(videos, labels):
        optimizer.zero_grad(set_to_none=True)
        logits = model(videos)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()
        cases.synchronize(device)

    benchmark.group = f"{device} model training step B{clips}N{frames}"
    benchmark.extra_info.update(device=device, blocks=COSAM_BLOCKS[blocks])
    benchmark.pedantic(step, setup=setup, rounds=1 if smoke else 5, warmup_rounds=0 if smoke else 1)
