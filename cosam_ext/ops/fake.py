"""Fake kernels: the ops' output shapes, which let torch.compile and
torch.export trace them without running them."""
import torch

from .channel_attention_op import channel_attention_forward
from .checks import check_attention, check_channel_attention, check_frames, check_masked_maps, volume_shape


@torch.library.register_fake("cosam::ncc_cost_volume")
def _ncc_cost_volume_fake(x, num_frames, eps):
    check_frames(x, num_frames)
    return x.new_empty(volume_shape(x, num_frames))


@torch.library.register_fake("cosam::ncc_cost_volume_backward")
def _ncc_cost_volume_backward_fake(grad, x, num_frames, eps):
    check_frames(x, num_frames)
    return x.new_empty(x.shape)


@torch.library.register_fake("cosam::ncc_summary")
def _ncc_summary_fake(x, weight, bias, num_frames, eps):
    check_frames(x, num_frames)
    torch._check(
        weight.shape[1] == volume_shape(x, num_frames)[1],
        lambda: f"weight.size(1) must be (N-1)*H*W = {volume_shape(x, num_frames)[1]}, "
        f"got {weight.shape[1]}",
    )
    total, channels, height, width = x.shape
    out_channels = weight.shape[0]
    return x.new_empty((total, out_channels, height, width)), x.new_empty((total, channels, out_channels))


@torch.library.register_fake("cosam::ncc_summary_backward")
def _ncc_summary_backward_fake(grad, x, v, weight, num_frames, eps):
    check_frames(x, num_frames)
    return x.new_empty(x.shape), weight.new_empty(weight.shape), weight.new_empty(weight.shape[0])


@torch.library.register_fake("cosam::masked_mean")
def _masked_mean_fake(x, spatial_mask):
    check_masked_maps(x, spatial_mask)
    return x.new_empty(x.shape[:2])


@torch.library.register_fake("cosam::masked_mean_backward")
def _masked_mean_backward_fake(grad, x, spatial_mask):
    check_masked_maps(x, spatial_mask)
    return x.new_empty(x.shape), spatial_mask.new_empty(spatial_mask.shape)


@torch.library.register_fake("cosam::apply_attention")
def _apply_attention_fake(x, spatial_mask, channel_mask, num_frames):
    check_attention(x, spatial_mask, channel_mask, num_frames)
    return x.new_empty(x.shape)


@torch.library.register_fake("cosam::apply_attention_backward")
def _apply_attention_backward_fake(grad, x, spatial_mask, channel_mask, num_frames):
    check_attention(x, spatial_mask, channel_mask, num_frames)
    return x.new_empty(x.shape), spatial_mask.new_empty(spatial_mask.shape), channel_mask.new_empty(channel_mask.shape)


@channel_attention_forward.register_fake
def _channel_attention_fake(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames):
    check_channel_attention(x, spatial_mask, weight1, bias1, weight2, bias2, num_frames)
    pooled = x.new_empty(x.shape[:2])
    return x.new_empty(x.shape), x.new_empty((x.shape[0] // num_frames, x.shape[1])), pooled
