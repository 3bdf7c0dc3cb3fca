"""Autocast rules of the ops (the compiled ops' CUDA rules are in
csrc/cuda/autocast.cpp)."""
import torch

# Under CPU autocast the reduction conv hands over bfloat16 maps while the
# summary weight stays float32: the ops run in float32, the dtype of the
# weights.
for _op in ("cosam::ncc_cost_volume", "cosam::ncc_summary", "cosam::masked_mean", "cosam::apply_attention"):
    torch.library.register_autocast(_op, "cpu", torch.float32)
# channel_attention meets the float32 MLP weights: on either device it runs in
# float32, the promoted dtype of its inputs under autocast.
for _device in ("cpu", "cuda"):
    torch.library.register_autocast("cosam::channel_attention", _device, torch.float32)
