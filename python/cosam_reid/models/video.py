"""The video re-ID model: a ResNet trunk with COSAM after chosen CNN blocks,
temporal pooling, an optional BN-neck and an identity classifier."""
import dataclasses
from typing import NamedTuple, Optional, Tuple

import torch
from torch import nn

from cosam_ext import CosamLayer
from cosam_ext.layer import ATTENTIONS, IMPLEMENTATIONS, SUMMARY_HEADS

from ..config import packaged_default
from .pooling import build_temporal_pooling
from .resnet import ResNet
from .weights import load_imagenet_weights

#: CNN blocks COSAM can follow, in the paper's numbering: block 2 is layer1, ..., block 5 is layer4.
COSAM_BLOCKS = (2, 3, 4, 5)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes the model's parameter shapes and its inputs; saved
    in checkpoints so that a checkpoint is only loaded into the model it fits.

    The defaults are the config's (configs/default.yaml), but for
    cosam_blocks: a model built in Python has COSAM only where asked."""

    backbone: str
    num_classes: int
    num_frames: int
    input_size: Tuple[int, int] = packaged_default("data.input_size")
    cosam_blocks: Tuple[int, ...] = ()
    last_stride: int = packaged_default("model.last_stride")
    temporal_pooling: str = packaged_default("model.temporal_pooling")
    bn_neck: bool = packaged_default("model.bn_neck")
    #: CosamLayer's attention: "both", "spatial" or "channel" (the paper's Table 3 ablation).
    attention: str = packaged_default("model.attention")
    #: CosamLayer's summary_head: "authors" (conv-BN-ReLU-conv, the released
    #: code) or "paper" (a single conv, the paper's pseudo-code).
    summary_head: str = packaged_default("model.cosam.summary_head")
    #: CosamLayer's reduced_channels: D, or None for the layer's own choice (256, or 64 for <= 256 channels).
    reduced_channels: Optional[int] = packaged_default("model.cosam.reduced_channels")
    #: CosamLayer's implementation: "fused" (the cosam ops) or "reference"
    #: (the authors' formulation). It changes the computation, not the parameters.
    implementation: str = packaged_default("model.cosam.implementation")

    def __post_init__(self):
        blocks = tuple(sorted(set(self.cosam_blocks)))
        unknown = [block for block in blocks if block not in COSAM_BLOCKS]
        if unknown:
            raise ValueError(f"cosam_blocks {unknown} do not exist; COSAM can follow CNN blocks {COSAM_BLOCKS}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.summary_head not in SUMMARY_HEADS:
            raise ValueError(f"COSAM summary_head (model.cosam.summary_head) must be one of {SUMMARY_HEADS}, "
                             f"got {self.summary_head!r}")
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"COSAM implementation (model.cosam.implementation) must be one of {IMPLEMENTATIONS}, "
                             f"got {self.implementation!r}")
        reduced = self.reduced_channels
        if reduced is not None and (isinstance(reduced, bool) or not isinstance(reduced, int) or reduced < 1):
            raise ValueError(f"COSAM reduced_channels (model.cosam.reduced_channels) must be a positive number of "
                             f"channels, or None for the layer's default (256, or 64 for inputs of <= 256 "
                             f"channels), got {reduced!r}")
        if blocks and self.num_frames < 2:
            raise ValueError(f"COSAM needs num_frames >= 2, got {self.num_frames}")
        object.__setattr__(self, "cosam_blocks", blocks)
        object.__setattr__(self, "input_size", tuple(self.input_size))


class ReIDOutput(NamedTuple):
    #: (B, C) clip features, before the BN-neck: what the triplet loss sees.
    features: torch.Tensor
    #: (B, num_classes) identity logits.
    logits: torch.Tensor


class VideoReIDModel(nn.Module):
    """Input: clips (B, N, 3, H, W) with N and (H, W) as built for.

    In training mode the forward returns ReIDOutput(features, logits); in eval
    mode the test feature (B, C): the pooled feature, or its BN-neck output when
    the neck is on.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.backbone = ResNet(spec.backbone, last_stride=spec.last_stride)
        map_sizes = self.backbone.stage_map_sizes(spec.input_size)
        self.cosam = nn.ModuleDict(
            {
                f"block{block}": CosamLayer(
                    self.backbone.stage_channels[block - 2], spec.num_frames, map_sizes[block - 2],
                    attention=spec.attention, summary_head=spec.summary_head,
                    reduced_channels=spec.reduced_channels, implementation=spec.implementation,
                )
                for block in spec.cosam_blocks
            }
        )
        channels = self.backbone.out_channels
        self.temporal_pooling = build_temporal_pooling(spec.temporal_pooling, channels, map_sizes[-1])
        self.bn_neck = None
        if spec.bn_neck:
            self.bn_neck = nn.BatchNorm1d(channels)
            # The neck only rescales; a shift would move all features alike.
            self.bn_neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(channels, spec.num_classes)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    @property
    def feature_dim(self):
        return self.backbone.out_channels

    def forward(self, clips):
        self._check_input(clips)
        maps = self.backbone.stem(clips.flatten(0, 1))
        for block, stage in enumerate(self.backbone.stages, start=2):
            maps = stage(maps)
            if f"block{block}" in self.cosam:
                maps = self.cosam[f"block{block}"](maps)
        features = self.temporal_pooling(maps.view(*clips.shape[:2], *maps.shape[1:]))
        neck = features if self.bn_neck is None else self.bn_neck(features)
        if not self.training:
            return neck
        return ReIDOutput(features, self.classifier(neck))

    def _check_input(self, clips):
        spec = self.spec
        if not isinstance(clips, torch.Tensor) or clips.dim() != 5 or clips.shape[2] != 3:
            shape = tuple(clips.shape) if isinstance(clips, torch.Tensor) else type(clips).__name__
            raise ValueError(f"the model takes clips of shape (B, N, 3, H, W), got {shape}")
        if clips.shape[1] != spec.num_frames:
            raise ValueError(
                f"clips have {clips.shape[1]} frames, the model was built for clip length "
                f"num_frames={spec.num_frames}"
            )
        if tuple(clips.shape[3:]) != spec.input_size:
            raise ValueError(
                f"frames are {clips.shape[3]}x{clips.shape[4]}, the model was built for "
                f"input_size={spec.input_size[0]}x{spec.input_size[1]}"
            )


def build_model(backbone, *, num_classes, num_frames, **options):
    """build_model("resnet50", num_classes=625, num_frames=4, cosam_blocks=(4, 5));
    options are the other ModelSpec fields."""
    return VideoReIDModel(ModelSpec(backbone, num_classes, num_frames, **options))


def model_from_config(config, num_classes, log=print):
    """The model a run configuration (cosam_reid.config.Config) describes:
    its model section (model.cosam for every COSAM layer) and its data
    section's clip length and frame size, with ImageNet weights when
    model.pretrained names a file."""
    model_options, data = config.model, config.data
    model = build_model(
        model_options.backbone,
        num_classes=num_classes,
        num_frames=data.num_frames,
        input_size=tuple(data.input_size),
        cosam_blocks=tuple(model_options.cosam_blocks),
        last_stride=model_options.last_stride,
        temporal_pooling=model_options.temporal_pooling,
        bn_neck=model_options.bn_neck,
        attention=model_options.attention,
        summary_head=model_options.cosam.summary_head,
        reduced_channels=model_options.cosam.reduced_channels,
        implementation=model_options.cosam.implementation,
    )
    if model_options.pretrained:
        load_imagenet_weights(model.backbone, model_options.pretrained, layout=model_options.pretrained_layout,
                              log=log)
    return model
