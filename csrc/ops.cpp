// Schemas of the cosam operator library. Kernels live in csrc/<backend>/,
// autograd and fake (meta) kernels in cosam_ext/ops.py.
#include <torch/library.h>

TORCH_LIBRARY(cosam, m) {
  // x: reduced features (B*N, D, H, W), clip-major. Returns the NCC cost
  // volume (B*N, (N-1)*H*W, H, W).
  m.def("ncc_cost_volume(Tensor x, int num_frames, float eps) -> Tensor");
  m.def(
      "ncc_cost_volume_backward(Tensor grad, Tensor x, int num_frames, "
      "float eps) -> Tensor");
  // conv1x1(ncc_cost_volume(x), weight, bias) without the volume.
  m.def(
      "ncc_summary(Tensor x, Tensor weight, Tensor? bias, int num_frames, "
      "float eps) -> Tensor");
  m.def(
      "ncc_summary_backward(Tensor grad, Tensor x, Tensor weight, "
      "int num_frames, float eps) -> (Tensor, Tensor, Tensor)");
}
