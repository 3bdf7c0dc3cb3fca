// cosam::masked_mean on CUDA: the mean over positions of x * s, s the spatial
// mask of the frame, and its backward. Half types compute and accumulate in
// float. No atomics: each sum has one owner, so results are deterministic.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include <limits>

#include "../ncc_checks.h"
#include "block_sum.cuh"
#include "cuda_kernels.h"
#include "grid_stride.cuh"

namespace cosam::cuda {
namespace {

// One block per (frame, channel) row.
template <typename scalar_t>
__global__ void masked_mean_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s,
    scalar_t* __restrict__ out, int64_t C, int64_t P) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kThreads];
  const int64_t row = blockIdx.x, frame = row / C;
  acc_t sum = 0;
  for (int64_t p = threadIdx.x; p < P; p += kThreads) {
    sum += static_cast<acc_t>(x[row * P + p]) * static_cast<acc_t>(s[frame * P + p]);
  }
  const acc_t total = block_sum(sum, partial);
  if (threadIdx.x == 0) out[row] = static_cast<scalar_t>(total / P);
}

// One thread per (frame, position): walks the frame's channels, writing
// dx = g s / P and summing ds = sum_c g x / P; consecutive threads touch
// consecutive positions of a channel row.
template <typename scalar_t>
__global__ void masked_mean_backward_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ s, scalar_t* __restrict__ dx,
    scalar_t* __restrict__ ds, int64_t frames, int64_t C, int64_t P) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t i = first_element(); i < frames * P; i += grid_stride()) {
    const int64_t frame = i / P, p = i % P;
    const acc_t sv = static_cast<acc_t>(s[i]) / P;
    acc_t sum = 0;
    for (int64_t channel = 0; channel < C; ++channel) {
      const int64_t row = frame * C + channel, at = row * P + p;
      const acc_t gv = static_cast<acc_t>(g[row]);
      dx[at] = static_cast<scalar_t>(gv * sv);
      sum += gv * static_cast<acc_t>(x[at]);
    }
    ds[i] = static_cast<scalar_t>(sum / P);
  }
}

at::Tensor masked_mean_cuda(const at::Tensor& x_in, const at::Tensor& spatial_mask) {
  const char* op = "cosam::masked_mean";
  check_masked_maps(x_in, spatial_mask, op);
  const auto device_guard = guard_device_of(x_in);
  check_cuda_dtype(x_in, "x");
  const auto x = x_in.contiguous(), s = spatial_mask.contiguous();
  const int64_t rows = x.size(0) * x.size(1), P = x.size(2) * x.size(3);
  TORCH_CHECK(
      rows <= std::numeric_limits<int32_t>::max(), op, ": x has too many ",
      "(frame, channel) rows for one grid: ", rows);
  auto out = at::empty({x.size(0), x.size(1)}, x.options());
  if (rows == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_masked_mean_cuda", [&] {
        masked_mean_kernel<scalar_t>
            <<<rows, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
                out.mutable_data_ptr<scalar_t>(), x.size(1), P);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

std::tuple<at::Tensor, at::Tensor> masked_mean_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask) {
  const char* op = "cosam::masked_mean_backward";
  check_masked_maps(x_in, spatial_mask, op);
  const auto device_guard = guard_device_of(x_in);
  check_cuda_dtype(x_in, "x");
  check_grad(grad_in, x_in, {x_in.size(0), x_in.size(1)}, op);
  const auto x = x_in.contiguous(), s = spatial_mask.contiguous();
  const auto grad = grad_in.contiguous();
  auto dx = at::empty(x.sizes(), x.options());
  auto ds = at::empty(s.sizes(), s.options());
  if (x.numel() == 0) return {dx, ds.zero_()};
  const int64_t P = x.size(2) * x.size(3);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_masked_mean_backward_cuda", [&] {
        masked_mean_backward_kernel<scalar_t>
            <<<blocks_for(x.size(0) * P), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                s.const_data_ptr<scalar_t>(), dx.mutable_data_ptr<scalar_t>(),
                ds.mutable_data_ptr<scalar_t>(), x.size(0), x.size(1), P);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {dx, ds};
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("masked_mean", &masked_mean_cuda);
  m.impl("masked_mean_backward", &masked_mean_backward_cuda);
}

}  // namespace cosam::cuda
