// The CPU backend's fused elementwise kernels, as required by ncc_algebra.h.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include <tuple>

#include "../ncc_checks.h"

namespace cosam::cpu {

// The CPU kernels are written for float32 and float64 (they accumulate in
// double); what names the argument in the message.
inline void check_cpu_dtype(const at::Tensor& t, const char* what) {
  TORCH_CHECK(
      t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
      "cosam ops on CPU support float32 and float64; ", what, " is ",
      t.scalar_type());
}

// Grain of a parallel_for over rows of P positions (one per frame and
// channel): enough rows per task that a task amortises its start-up.
inline int64_t row_grain(int64_t positions) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / positions);
}

struct CpuKernels {
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> normalize(
      const at::Tensor& x, const FrameBatch& fb, double eps);
  static at::Tensor normalize_backward(
      const at::Tensor& dz, const at::Tensor& x, const at::Tensor& mean,
      const at::Tensor& stdev, const FrameBatch& fb, double eps);
  static at::Tensor slot_sums(
      const at::Tensor& lo, const at::Tensor& hi, double scale);
  static std::tuple<at::Tensor, at::Tensor> slot_sums_backward(
      const at::Tensor& dv, double scale);
};

}  // namespace cosam::cpu
