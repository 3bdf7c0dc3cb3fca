// The CUDA backend's fused elementwise kernels, as required by ncc_algebra.h,
// and the device guard of its entry points.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include <optional>
#include <tuple>

#include "../op_checks.h"

namespace cosam::cuda {

// The CUDA kernels' dtypes (half types compute in float); what names the
// argument in the message.
inline void check_cuda_dtype(const at::Tensor& t, const char* what) {
  const auto type = t.scalar_type();
  TORCH_CHECK(
      type == at::kFloat || type == at::kDouble || type == at::kHalf ||
          type == at::kBFloat16,
      "cosam ops on CUDA support float32, float64, float16 and bfloat16; ",
      what, " is ", type);
}

struct CudaKernels {
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> normalize(
      const at::Tensor& x, const FrameBatch& fb, double eps);
  static at::Tensor normalize_backward(
      const at::Tensor& dz, const at::Tensor& x, const at::Tensor& mean,
      const at::Tensor& stdev, const FrameBatch& fb, double eps);
  static at::Tensor slot_sums(const at::Tensor& pairs, double scale);
  static at::Tensor slot_sums_backward(const at::Tensor& dv, double scale);
};

// Every CUDA entry point runs on the device of x, so that kernels and cuBLAS
// calls go to that device's current stream. A CPU x (dispatched here by a
// CUDA weight or grad) gets no guard: the op's device check then reports the
// mismatch by argument name.
inline c10::cuda::OptionalCUDAGuard guard_device_of(const at::Tensor& x) {
  return c10::cuda::OptionalCUDAGuard(
      x.is_cuda() ? std::make_optional(x.device()) : std::nullopt);
}

}  // namespace cosam::cuda
