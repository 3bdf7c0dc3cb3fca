// What the CUDA launchers share: the device guard of their entry points.
// Kernels<c10::kCUDA> of ncc_algebra.h is defined in normalize.cu and
// slot_sums.cu.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include <optional>

#include "../ncc_algebra.h"

namespace cosam::cuda {

// Every CUDA entry point runs on the device of x, so that kernels and cuBLAS
// calls go to that device's current stream. A CPU x (dispatched here by a
// CUDA weight or grad) gets no guard: the op's device check then reports the
// mismatch by argument name.
inline c10::cuda::OptionalCUDAGuard guard_device_of(const at::Tensor& x) {
  return c10::cuda::OptionalCUDAGuard(
      x.is_cuda() ? std::make_optional(x.device()) : std::nullopt);
}

}  // namespace cosam::cuda
