// cosam::masked_mean on CPU: the mean over positions of x * s, s the spatial
// mask of the frame, and its backward in one pass over x that yields dx and
// the mask gradient.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../op_checks.h"
#include "cpu_kernels.h"

namespace cosam::cpu {
namespace {

// sum_p x s over one row of P positions.
template <typename scalar_t, typename acc_t>
COSAM_CPU_CLONES acc_t masked_row_sum(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s, int64_t P) {
  acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t p = 0; p < P; ++p) sum += static_cast<acc_t>(x[p]) * s[p];
  return sum;
}

template <typename scalar_t>
void masked_mean_impl(
    const scalar_t* x, const scalar_t* s, scalar_t* out, int64_t frames,
    int64_t C, int64_t P) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  at::parallel_for(0, frames * C, row_grain(P), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const acc_t sum = masked_row_sum<scalar_t, acc_t>(x + row * P, s + (row / C) * P, P);
      out[row] = static_cast<scalar_t>(sum / P);
    }
  });
}

// One row of the backward: dx = scale s, ds_block += scale x, in opmath_t.
template <typename scalar_t, typename opmath_t>
COSAM_CPU_CLONES void masked_mean_backward_row(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s, opmath_t scale,
    scalar_t* __restrict__ dx, opmath_t* __restrict__ ds_block, int64_t P) {
  for (int64_t p = 0; p < P; ++p) {
    dx[p] = static_cast<scalar_t>(scale * static_cast<opmath_t>(s[p]));
    ds_block[p] += scale * static_cast<opmath_t>(x[p]);
  }
}

// dx = g s / P; ds[p] = sum over channels of g x[:, p] / P, in one pass.
template <typename scalar_t>
void masked_mean_backward_impl(
    const scalar_t* g, const scalar_t* x, const scalar_t* s, scalar_t* dx,
    scalar_t* ds, int64_t frames, int64_t C, int64_t P) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  for_each_frame_summing_positions<acc_t, opmath_t>(
      frames, C, P, ds, [&](int64_t frame, int64_t channel, opmath_t* ds_block) {
        const int64_t row = frame * C + channel;
        masked_mean_backward_row(
            x + row * P, s + frame * P, static_cast<opmath_t>(g[row]) / P, dx + row * P,
            ds_block, P);
      });
}

at::Tensor masked_mean_cpu(const at::Tensor& x_in, const at::Tensor& spatial_mask) {
  check_masked_maps(x_in, spatial_mask, "cosam::masked_mean");
  check_dtype(x_in, "x", "CPU");
  const auto x = x_in.contiguous(), s = spatial_mask.contiguous();
  auto out = at::empty({x.size(0), x.size(1)}, x.options());
  COSAM_DISPATCH_CPU_TYPES(x.scalar_type(), "cosam_masked_mean_cpu", [&] {
    masked_mean_impl<scalar_t>(
        x.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
        out.mutable_data_ptr<scalar_t>(), x.size(0), x.size(1),
        x.size(2) * x.size(3));
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> masked_mean_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask) {
  const char* op = "cosam::masked_mean_backward";
  check_masked_maps(x_in, spatial_mask, op);
  check_dtype(x_in, "x", "CPU");
  check_grad(grad_in, x_in, {x_in.size(0), x_in.size(1)}, op);
  const auto x = x_in.contiguous(), s = spatial_mask.contiguous();
  const auto grad = grad_in.contiguous();
  auto dx = at::empty(x.sizes(), x.options());
  auto ds = at::empty(s.sizes(), s.options());
  COSAM_DISPATCH_CPU_TYPES(x.scalar_type(), "cosam_masked_mean_backward_cpu", [&] {
    masked_mean_backward_impl<scalar_t>(
        grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
        s.const_data_ptr<scalar_t>(), dx.mutable_data_ptr<scalar_t>(),
        ds.mutable_data_ptr<scalar_t>(), x.size(0), x.size(1),
        x.size(2) * x.size(3));
  });
  return {dx, ds};
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CPU, m) {
  m.impl("masked_mean", &masked_mean_cpu);
  m.impl("masked_mean_backward", &masked_mean_backward_cpu);
}

}  // namespace cosam::cpu
