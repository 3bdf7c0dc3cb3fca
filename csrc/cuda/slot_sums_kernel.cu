// Exclusive prefix and suffix sums over the frames of a clip: V_n from the
// per-frame pairs [hi_m | lo_m], and the adjoint for the backward. One
// thread per element of the (R, K) matrices walks the N frames, accumulating
// in float for half types; consecutive threads read consecutive elements.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "cuda_kernels.h"
#include "grid_stride.cuh"

namespace cosam::cuda {
namespace {

// pairs (N, R, 2K): hi_m in columns [0, K), lo_m in [K, 2K).
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
    // Element i = (r, k) of frame m's hi half is at m*2E + r*2K + k.
    const scalar_t* hi = pairs + (i / K) * 2 * K + i % K;
    for (int64_t n = 0; n < N; ++n) {
      acc_t before = 0, after = 0;
      for (int64_t m = 0; m < n; ++m) before += hi[m * 2 * E + K];
      for (int64_t m = N - 1; m > n; --m) after += hi[m * 2 * E];
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
    scalar_t* dhi = dpairs + (i / K) * 2 * K + i % K;
    acc_t upto = 0;
    for (int64_t m = 0; m < N; ++m) {
      dhi[m * 2 * E] = static_cast<scalar_t>(scale * upto);
      upto += dv[m * E + i];
    }
    acc_t after = 0;
    for (int64_t m = N - 1; m >= 0; --m) {
      dhi[m * 2 * E + K] = static_cast<scalar_t>(scale * after);
      after += dv[m * E + i];
    }
  }
}

}  // namespace

at::Tensor CudaKernels::slot_sums(const at::Tensor& pairs, double scale) {
  const int64_t N = pairs.size(0), R = pairs.size(1), K = pairs.size(2) / 2;
  auto v = at::empty({N, R, K}, pairs.options());
  if (R * K == 0) return v;
  const auto pairs_c = pairs.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, pairs.scalar_type(), "cosam_slot_sums_cuda", [&] {
        slot_sums_kernel<scalar_t>
            <<<blocks_for(R * K), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                pairs_c.const_data_ptr<scalar_t>(), v.mutable_data_ptr<scalar_t>(),
                N, R, K, static_cast<at::opmath_type<scalar_t>>(scale));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return v;
}

at::Tensor CudaKernels::slot_sums_backward(const at::Tensor& dv, double scale) {
  const int64_t N = dv.size(0), R = dv.size(1), K = dv.size(2);
  auto dpairs = at::empty({N, R, 2 * K}, dv.options());
  if (R * K == 0) return dpairs;
  const auto dv_c = dv.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, dv.scalar_type(),
      "cosam_slot_sums_backward_cuda", [&] {
        slot_sums_backward_kernel<scalar_t>
            <<<blocks_for(R * K), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                dv_c.const_data_ptr<scalar_t>(),
                dpairs.mutable_data_ptr<scalar_t>(), N, R, K,
                static_cast<at::opmath_type<scalar_t>>(scale));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return dpairs;
}

}  // namespace cosam::cuda
