"""Backbones, COSAM insertion, temporal pooling, heads and ImageNet weights."""
from .pooling import TEMPORAL_POOLINGS
from .resnet import ARCHITECTURES, ResNet
from .video import COSAM_BLOCKS, ModelSpec, ReIDOutput, VideoReIDModel, build_model, model_from_config
from .weights import WEIGHT_LAYOUTS, load_imagenet_weights

__all__ = [
    "ARCHITECTURES",
    "COSAM_BLOCKS",
    "ModelSpec",
    "ReIDOutput",
    "ResNet",
    "TEMPORAL_POOLINGS",
    "VideoReIDModel",
    "WEIGHT_LAYOUTS",
    "build_model",
    "load_imagenet_weights",
    "model_from_config",
]
