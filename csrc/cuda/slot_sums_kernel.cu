// Exclusive prefix and suffix sums over the frames of a clip: V_n from the
// per-frame products lo_m and hi_m, and the adjoint for the backward. One
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

// v[n] = scale * (sum_{m<n} lo[m] + sum_{m>n} hi[m-1]), summed afresh for
// each n (in the CPU kernel's order): N is a clip length, a few frames, and
// so no partial sum is rounded to scalar_t on its way.
template <typename scalar_t>
__global__ void slot_sums_kernel(
    const scalar_t* __restrict__ lo, const scalar_t* __restrict__ hi,
    scalar_t* __restrict__ v, int64_t N, int64_t E,
    at::opmath_type<scalar_t> scale) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t i = first_element(); i < E; i += grid_stride()) {
    for (int64_t n = 0; n < N; ++n) {
      acc_t before = 0, after = 0;
      for (int64_t m = 0; m < n; ++m) before += lo[m * E + i];
      for (int64_t m = N - 1; m > n; --m) after += hi[(m - 1) * E + i];
      v[n * E + i] = static_cast<scalar_t>(scale * (before + after));
    }
  }
}

// dlo[s] = scale * sum_{n>s} dv[n],  dhi[s] = scale * sum_{n<=s} dv[n].
template <typename scalar_t>
__global__ void slot_sums_backward_kernel(
    const scalar_t* __restrict__ dv, scalar_t* __restrict__ dlo,
    scalar_t* __restrict__ dhi, int64_t N, int64_t E,
    at::opmath_type<scalar_t> scale) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t i = first_element(); i < E; i += grid_stride()) {
    acc_t upto = 0;
    for (int64_t s = 0; s < N - 1; ++s) {
      upto += dv[s * E + i];
      dhi[s * E + i] = static_cast<scalar_t>(scale * upto);
    }
    acc_t after = 0;
    for (int64_t s = N - 2; s >= 0; --s) {
      after += dv[(s + 1) * E + i];
      dlo[s * E + i] = static_cast<scalar_t>(scale * after);
    }
  }
}

}  // namespace

at::Tensor CudaKernels::slot_sums(
    const at::Tensor& lo, const at::Tensor& hi, double scale) {
  const int64_t N = lo.size(0) + 1, E = lo.size(1) * lo.size(2);
  auto v = at::empty({N, lo.size(1), lo.size(2)}, lo.options());
  if (E == 0) return v;
  const auto lo_c = lo.contiguous(), hi_c = hi.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, lo.scalar_type(), "cosam_slot_sums_cuda", [&] {
        slot_sums_kernel<scalar_t>
            <<<blocks_for(E), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                lo_c.const_data_ptr<scalar_t>(),
                hi_c.const_data_ptr<scalar_t>(), v.mutable_data_ptr<scalar_t>(),
                N, E, static_cast<at::opmath_type<scalar_t>>(scale));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return v;
}

std::tuple<at::Tensor, at::Tensor> CudaKernels::slot_sums_backward(
    const at::Tensor& dv, double scale) {
  const int64_t N = dv.size(0), E = dv.size(1) * dv.size(2);
  auto dlo = at::empty({N - 1, dv.size(1), dv.size(2)}, dv.options());
  auto dhi = at::empty_like(dlo);
  if (E == 0) return {dlo, dhi};
  const auto dv_c = dv.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, dv.scalar_type(),
      "cosam_slot_sums_backward_cuda", [&] {
        slot_sums_backward_kernel<scalar_t>
            <<<blocks_for(E), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                dv_c.const_data_ptr<scalar_t>(),
                dlo.mutable_data_ptr<scalar_t>(),
                dhi.mutable_data_ptr<scalar_t>(), N, E,
                static_cast<at::opmath_type<scalar_t>>(scale));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {dlo, dhi};
}

}  // namespace cosam::cuda
