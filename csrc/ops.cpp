// Schemas of the cosam operator library. Kernels live in csrc/<backend>/,
// autograd and fake (meta) kernels in the cosam_ext/ops/ package.
#include <torch/library.h>

TORCH_LIBRARY(cosam, m) {
  // x: reduced features (B*N, D, H, W), clip-major. Returns the NCC cost
  // volume (B*N, (N-1)*H*W, H, W).
  m.def("ncc_cost_volume(Tensor x, int num_frames, float eps) -> Tensor");
  m.def(
      "ncc_cost_volume_backward(Tensor grad, Tensor x, int num_frames, "
      "float eps) -> Tensor");
  // conv1x1(ncc_cost_volume(x), weight, bias) without the volume: the
  // logits (B*N, K, H, W), and the slot sums v (N*B, D, K) that the backward
  // reuses.
  m.def(
      "ncc_summary(Tensor x, Tensor weight, Tensor? bias, int num_frames, "
      "float eps) -> (Tensor logits, Tensor v)");
  m.def(
      "ncc_summary_backward(Tensor grad, Tensor x, Tensor v, Tensor weight, "
      "int num_frames, float eps) -> (Tensor, Tensor, Tensor)");
  // The mean over positions of x * spatial_mask, (B*N, C): what the channel
  // attention sees, without x * spatial_mask.
  m.def("masked_mean(Tensor x, Tensor spatial_mask) -> Tensor");
  m.def(
      "masked_mean_backward(Tensor grad, Tensor x, Tensor spatial_mask) "
      "-> (Tensor, Tensor)");
  // The layer's attention applied to its input x (B*N, C, H, W):
  // x * spatial_mask * (1 + channel_mask of the clip), with spatial_mask
  // (B*N, 1, H, W) and channel_mask (B, C), in one pass.
  m.def(
      "apply_attention(Tensor x, Tensor spatial_mask, Tensor channel_mask, "
      "int num_frames) -> Tensor");
  // Returns (dx, d spatial_mask, d channel_mask). With grad_pooled (B*N, C),
  // the gradient of mean_p(x * spatial_mask), dx and d spatial_mask also
  // carry that statistic's share: the channel attention's backward writes dx
  // in one pass.
  m.def(
      "apply_attention_backward(Tensor grad, Tensor x, Tensor spatial_mask, "
      "Tensor channel_mask, int num_frames, Tensor? grad_pooled=None) "
      "-> (Tensor, Tensor, Tensor)");
  // d channel_mask alone, (B, C): the sum over a clip's frames and positions
  // of grad * x * spatial_mask, which the channel attention needs before it
  // can form grad_pooled.
  m.def(
      "apply_attention_channel_grad(Tensor grad, Tensor x, Tensor spatial_mask, "
      "int num_frames) -> Tensor");
}
