// Device code of the exclusive prefix and suffix sums over the frames of a
// clip: V_n from the per-frame pairs (hi_m, lo_m), and the adjoint for the
// backward (compiled by nvcc, and as host code by the CPU harness). One
// thread per element of the (R, K) planes walks the N frames, accumulating
// in float for half types; consecutive threads read consecutive elements.
#pragma once

#include <ATen/OpMathType.h>

#include "launch_shape.cuh"

namespace cosam::cuda {

// Both kernels, for N frames of (R, K) matrices.
inline LaunchShape slot_sums_launch(
    int64_t R, int64_t K, int64_t max_blocks = kMaxBlocks) {
  return grid_stride_launch(R * K, max_blocks);
}

// pairs (N, 2, R, K): plane 2m holds hi_m, plane 2m + 1 lo_m.
// v[n] = scale * (sum_{m<n} lo_m + sum_{m>n} hi_m), summed afresh for each n
// (in the CPU kernel's order): N is a clip length, a few frames, and so no
// partial sum is rounded to scalar_t on its way.
template <typename scalar_t>
__global__ void slot_sums_kernel(
    const scalar_t* __restrict__ pairs, scalar_t* __restrict__ v, int64_t N,
    int64_t R, int64_t K, at::opmath_type<scalar_t> scale) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t E = R * K;
  for (int64_t i = first_element(); i < E; i += grid_stride()) {
    // Element i of frame m's hi plane is at 2m*E + i, of its lo plane E further on.
    const scalar_t* element = pairs + i;
    for (int64_t n = 0; n < N; ++n) {
      acc_t before = 0, after = 0;
      for (int64_t m = 0; m < n; ++m) before += element[(2 * m + 1) * E];
      for (int64_t m = N - 1; m > n; --m) after += element[2 * m * E];
      v[n * E + i] = static_cast<scalar_t>(scale * (before + after));
    }
  }
}

// dhi_m = scale * sum_{n<m} dv[n],  dlo_m = scale * sum_{n>m} dv[n]; both are
// zero where the sums are empty (hi of frame 0, lo of frame N-1).
template <typename scalar_t>
__global__ void slot_sums_backward_kernel(
    const scalar_t* __restrict__ dv, scalar_t* __restrict__ dpairs, int64_t N,
    int64_t R, int64_t K, at::opmath_type<scalar_t> scale) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t E = R * K;
  for (int64_t i = first_element(); i < E; i += grid_stride()) {
    scalar_t* element = dpairs + i;
    acc_t upto = 0;
    for (int64_t m = 0; m < N; ++m) {
      element[2 * m * E] = static_cast<scalar_t>(scale * upto);
      upto += dv[m * E + i];
    }
    acc_t after = 0;
    for (int64_t m = N - 1; m >= 0; --m) {
      element[(2 * m + 1) * E] = static_cast<scalar_t>(scale * after);
      after += dv[m * E + i];
    }
  }
}

}  // namespace cosam::cuda
