// cosam::ncc_summary on CUDA: the shared GEMM algebra over the CUDA kernels,
// on the device of x.
#include <torch/library.h>

#include "../ncc_algebra.h"
#include "cuda_kernels.h"

namespace cosam::cuda {
namespace {

SummaryResult ncc_summary_cuda(
    const at::Tensor& x, const at::Tensor& weight,
    const std::optional<at::Tensor>& bias, int64_t num_frames, double eps) {
  const auto device_guard = guard_device_of(x);
  return ncc_summary_forward<c10::kCUDA>(x, weight, bias, num_frames, eps);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ncc_summary_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& v,
    const at::Tensor& weight, int64_t num_frames, double eps) {
  const auto device_guard = guard_device_of(x);
  return ncc_summary_backward<c10::kCUDA>(grad, x, v, weight, num_frames, eps);
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("ncc_summary", &ncc_summary_cuda);
  m.impl("ncc_summary_backward", &ncc_summary_backward_cuda);
}

}  // namespace cosam::cuda
