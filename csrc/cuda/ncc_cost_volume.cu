// cosam::ncc_cost_volume on CUDA: the shared GEMM algebra over the CUDA
// kernels, on the device of x.
#include <torch/library.h>

#include "../ncc_algebra.h"
#include "cuda_kernels.h"

namespace cosam::cuda {
namespace {

at::Tensor ncc_cost_volume_cuda(
    const at::Tensor& x, int64_t num_frames, double eps) {
  const auto device_guard = guard_device_of(x);
  return ncc_cost_volume_forward<c10::kCUDA>(x, num_frames, eps);
}

at::Tensor ncc_cost_volume_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, int64_t num_frames,
    double eps) {
  const auto device_guard = guard_device_of(x);
  return ncc_cost_volume_backward<c10::kCUDA>(grad, x, num_frames, eps);
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("ncc_cost_volume", &ncc_cost_volume_cuda);
  m.impl("ncc_cost_volume_backward", &ncc_cost_volume_backward_cuda);
}

}  // namespace cosam::cuda
