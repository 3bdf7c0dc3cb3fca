// cosam::apply_attention on CPU: out = x * s * (1 + c), s the spatial mask of
// the frame, c the channel mask of its clip, and the backward in one pass
// over grad and x that yields dx and both mask gradients.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "../op_checks.h"
#include "cpu_kernels.h"

namespace cosam::cpu {
namespace {

// out = x s scale over one row of P positions.
template <typename scalar_t>
COSAM_CPU_CLONES void scale_row(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s,
    at::opmath_type<scalar_t> scale, scalar_t* __restrict__ out, int64_t P) {
  // float16 and bfloat16 are multiplied in float32, the others as they are.
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t p = 0; p < P; ++p) {
    out[p] = static_cast<scalar_t>(static_cast<opmath_t>(x[p]) * s[p] * scale);
  }
}

template <typename scalar_t>
void apply_attention_impl(
    const scalar_t* x, const scalar_t* s, const scalar_t* c, scalar_t* out,
    const AttentionBatch& ab) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t C = ab.channels, P = ab.positions;
  at::parallel_for(
      0, ab.clips * ab.frames * C, row_grain(P), [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const int64_t frame = row / C, channel = row % C;
          const opmath_t scale =
              1 + static_cast<opmath_t>(c[(frame / ab.frames) * C + channel]);
          scale_row(x + row * P, s + frame * P, scale, out + row * P, P);
        }
      });
}

// One row of the backward: dx = g s scale, ds_block += g x scale, and the
// row's share of dc, sum_p g x s, returned: products in opmath_t (float for
// float32), the share summed in kLanes lanes of opmath_t, then in acc_t.
template <typename scalar_t, typename opmath_t, typename acc_t>
COSAM_CPU_CLONES acc_t attention_backward_row(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ s, opmath_t scale, scalar_t* __restrict__ dx,
    opmath_t* __restrict__ ds_block, int64_t P) {
  // dx[i] and ds_block[i] written, g x s at i returned.
  const auto position = [&](int64_t i) {
    const opmath_t grad = g[i], grad_x = grad * static_cast<opmath_t>(x[i]);
    dx[i] = static_cast<scalar_t>(grad * static_cast<opmath_t>(s[i]) * scale);
    ds_block[i] += grad_x * scale;
    return grad_x * static_cast<opmath_t>(s[i]);
  };
  opmath_t lanes[kLanes] = {};
  int64_t p = 0;
  for (; p + kLanes <= P; p += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] += position(p + j);
  }
  acc_t share = 0;
  for (; p < P; ++p) share += position(p);
  for (int64_t j = 0; j < kLanes; ++j) share += lanes[j];
  return share;
}

// dx = g s (1 + c); ds[p] = sum over channels of g x (1 + c);
// dc = sum over the clip's frames and positions of g x s: per frame first,
// then over the frames of a clip in a fixed order.
template <typename scalar_t>
void apply_attention_backward_impl(
    const scalar_t* g, const scalar_t* x, const scalar_t* s,
    const scalar_t* c, scalar_t* dx, scalar_t* ds, scalar_t* dc,
    const AttentionBatch& ab) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  const int64_t C = ab.channels, P = ab.positions, N = ab.frames;
  std::vector<acc_t> dc_frames(ab.clips * N * C);
  for_each_frame_summing_positions<acc_t, opmath_t>(
      ab.clips * N, C, P, ds, [&](int64_t frame, int64_t channel, opmath_t* ds_block) {
        const int64_t row = frame * C + channel;
        const opmath_t scale = 1 + static_cast<opmath_t>(c[(frame / N) * C + channel]);
        dc_frames[row] = attention_backward_row<scalar_t, opmath_t, acc_t>(
            g + row * P, x + row * P, s + frame * P, scale, dx + row * P, ds_block, P);
      });
  for (int64_t clip = 0; clip < ab.clips; ++clip) {
    for (int64_t channel = 0; channel < C; ++channel) {
      acc_t total = 0;
      for (int64_t n = 0; n < N; ++n) total += dc_frames[(clip * N + n) * C + channel];
      dc[clip * C + channel] = static_cast<scalar_t>(total);
    }
  }
}

at::Tensor apply_attention_cpu(
    const at::Tensor& x_in, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames) {
  const char* op = "cosam::apply_attention";
  const auto ab = check_attention(x_in, spatial_mask, channel_mask, num_frames, op);
  check_dtype(x_in, "x", "CPU");
  const auto x = x_in.contiguous();
  const auto s = spatial_mask.contiguous(), c = channel_mask.contiguous();
  auto out = at::empty(x.sizes(), x.options());
  COSAM_DISPATCH_CPU_TYPES(x.scalar_type(), "cosam_apply_attention_cpu", [&] {
    apply_attention_impl<scalar_t>(
        x.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
        c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), ab);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> apply_attention_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask, const at::Tensor& channel_mask,
    int64_t num_frames) {
  const char* op = "cosam::apply_attention_backward";
  const auto ab = check_attention(x_in, spatial_mask, channel_mask, num_frames, op);
  check_dtype(x_in, "x", "CPU");
  check_grad(grad_in, x_in, x_in.sizes(), op);
  const auto x = x_in.contiguous(), grad = grad_in.contiguous();
  const auto s = spatial_mask.contiguous(), c = channel_mask.contiguous();
  auto dx = at::empty(x.sizes(), x.options());
  auto ds = at::empty(s.sizes(), s.options());
  auto dc = at::empty(c.sizes(), c.options());
  COSAM_DISPATCH_CPU_TYPES(x.scalar_type(), "cosam_apply_attention_backward_cpu", [&] {
    apply_attention_backward_impl<scalar_t>(
        grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
        s.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(),
        dx.mutable_data_ptr<scalar_t>(), ds.mutable_data_ptr<scalar_t>(),
        dc.mutable_data_ptr<scalar_t>(), ab);
  });
  return {dx, ds, dc};
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CPU, m) {
  m.impl("apply_attention", &apply_attention_cpu);
  m.impl("apply_attention_backward", &apply_attention_backward_cpu);
}

}  // namespace cosam::cpu
