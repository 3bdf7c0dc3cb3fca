// cosam::apply_attention on CUDA: out = x * s * (1 + c), s the spatial mask
// of the frame, c the channel mask of its clip, and its backward. Half types
// compute and accumulate in float. No atomics: each reduction has one owner,
// so results are deterministic.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include <limits>

#include "../ncc_checks.h"
#include "cuda_kernels.h"
#include "block_sum.cuh"
#include "grid_stride.cuh"

namespace cosam::cuda {
namespace {

template <typename scalar_t>
__global__ void apply_attention_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s,
    const scalar_t* __restrict__ c, scalar_t* __restrict__ out,
    AttentionBatch ab) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t P = ab.positions, C = ab.channels;
  const int64_t total = ab.clips * ab.frames * C * P;
  for (int64_t i = first_element(); i < total; i += grid_stride()) {
    const int64_t row = i / P, frame = row / C;
    const acc_t scale =
        acc_t(1) + static_cast<acc_t>(c[(frame / ab.frames) * C + row % C]);
    out[i] = static_cast<scalar_t>(
        static_cast<acc_t>(x[i]) * static_cast<acc_t>(s[frame * P + i % P]) *
        scale);
  }
}

// One block per (frame, channel) row: writes dx for the row and the row's
// share of dc, sum_p g x s, into dc_rows.
template <typename scalar_t>
__global__ void apply_attention_backward_rows_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ s, const scalar_t* __restrict__ c,
    scalar_t* __restrict__ dx, at::opmath_type<scalar_t>* __restrict__ dc_rows,
    AttentionBatch ab) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kThreads];
  const int64_t P = ab.positions, C = ab.channels;
  const int64_t row = blockIdx.x, frame = row / C;
  const acc_t scale =
      acc_t(1) + static_cast<acc_t>(c[(frame / ab.frames) * C + row % C]);
  acc_t dc_part = 0;
  for (int64_t p = threadIdx.x; p < P; p += kThreads) {
    const acc_t gv = static_cast<acc_t>(g[row * P + p]);
    const acc_t sv = static_cast<acc_t>(s[frame * P + p]);
    dx[row * P + p] = static_cast<scalar_t>(gv * sv * scale);
    dc_part += gv * static_cast<acc_t>(x[row * P + p]) * sv;
  }
  const acc_t total = block_sum(dc_part, partial);
  if (threadIdx.x == 0) dc_rows[row] = total;
}

// One thread per (frame, position): ds = sum over channels of g x (1 + c);
// consecutive threads read consecutive positions of a channel row.
template <typename scalar_t>
__global__ void apply_attention_backward_positions_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ c, scalar_t* __restrict__ ds,
    AttentionBatch ab) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t P = ab.positions, C = ab.channels;
  const int64_t total = ab.clips * ab.frames * P;
  for (int64_t i = first_element(); i < total; i += grid_stride()) {
    const int64_t frame = i / P, p = i % P;
    const scalar_t* cf = c + (frame / ab.frames) * C;
    acc_t sum = 0;
    for (int64_t channel = 0; channel < C; ++channel) {
      const int64_t at = (frame * C + channel) * P + p;
      sum += static_cast<acc_t>(g[at]) * static_cast<acc_t>(x[at]) *
          (acc_t(1) + static_cast<acc_t>(cf[channel]));
    }
    ds[i] = static_cast<scalar_t>(sum);
  }
}

at::Tensor apply_attention_cuda(
    const at::Tensor& x_in, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames) {
  const char* op = "cosam::apply_attention";
  const auto ab = check_attention(x_in, spatial_mask, channel_mask, num_frames, op);
  const auto device_guard = guard_device_of(x_in);
  check_cuda_dtype(x_in, "x");
  const auto x = x_in.contiguous();
  const auto s = spatial_mask.contiguous(), c = channel_mask.contiguous();
  auto out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_apply_attention_cuda", [&] {
        apply_attention_kernel<scalar_t>
            <<<blocks_for(x.numel()), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
                c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), ab);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> apply_attention_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask, const at::Tensor& channel_mask,
    int64_t num_frames) {
  const char* op = "cosam::apply_attention_backward";
  const auto ab = check_attention(x_in, spatial_mask, channel_mask, num_frames, op);
  const auto device_guard = guard_device_of(x_in);
  check_cuda_dtype(x_in, "x");
  check_grad(grad_in, x_in, x_in.sizes(), op);
  const auto x = x_in.contiguous(), grad = grad_in.contiguous();
  const auto s = spatial_mask.contiguous(), c = channel_mask.contiguous();
  auto dx = at::empty(x.sizes(), x.options());
  auto ds = at::empty(s.sizes(), s.options());
  const int64_t rows = ab.clips * ab.frames * ab.channels;
  TORCH_CHECK(
      rows <= std::numeric_limits<int32_t>::max(), op, ": x has too many ",
      "(frame, channel) rows for one grid: ", rows);
  auto dc_rows = at::empty(
      {ab.clips, ab.frames, ab.channels},
      x.options().dtype(at::toOpMathType(x.scalar_type())));
  if (x.numel() == 0) {
    return {dx, ds.zero_(), at::zeros_like(c)};
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(),
      "cosam_apply_attention_backward_cuda", [&] {
        const auto stream = at::cuda::getCurrentCUDAStream();
        apply_attention_backward_rows_kernel<scalar_t>
            <<<rows, kThreads, 0, stream>>>(
                grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                s.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(),
                dx.mutable_data_ptr<scalar_t>(),
                dc_rows.mutable_data_ptr<at::opmath_type<scalar_t>>(), ab);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        apply_attention_backward_positions_kernel<scalar_t>
            <<<blocks_for(ab.clips * ab.frames * ab.positions), kThreads, 0, stream>>>(
                grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                c.const_data_ptr<scalar_t>(), ds.mutable_data_ptr<scalar_t>(), ab);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  // dc of a clip: its frames' shares summed in a fixed order, in float.
  return {dx, ds, dc_rows.sum(1).to(c.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("apply_attention", &apply_attention_cuda);
  m.impl("apply_attention_backward", &apply_attention_backward_cuda);
}

}  // namespace cosam::cuda
