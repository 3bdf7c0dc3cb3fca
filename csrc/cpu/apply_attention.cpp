// cosam::apply_attention on CPU: out = x * s * (1 + c), s the spatial mask of
// the frame, c the channel mask of its clip; the backward in one pass over
// grad and x that yields dx and both mask gradients, and the channel mask's
// gradient alone.
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

// One row of the backward: with kWritesGrads, dx = s (g scale + shift) and
// ds_block += x (g scale + shift), shift being the row's share of the
// pooled statistic's gradient; always the row's share of dc, sum_p g x s,
// returned. Products in opmath_t (float for float32), the share summed in
// kLanes lanes of opmath_t, then in acc_t.
template <bool kWritesGrads, typename scalar_t, typename opmath_t, typename acc_t>
COSAM_CPU_CLONES acc_t attention_backward_row(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ s, opmath_t scale, opmath_t shift,
    scalar_t* __restrict__ dx, opmath_t* __restrict__ ds_block, int64_t P) {
  const auto position = [&](int64_t i) {
    const opmath_t grad = g[i], xv = x[i], sv = s[i];
    if constexpr (kWritesGrads) {
      const opmath_t through = grad * scale + shift;
      dx[i] = static_cast<scalar_t>(through * sv);
      ds_block[i] += through * xv;
    }
    return grad * xv * sv;
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

// dc[clip] = the sum of its frames' shares, in frame order.
template <typename scalar_t, typename acc_t>
void sum_clip_frames(const std::vector<acc_t>& dc_frames, scalar_t* dc, const AttentionBatch& ab) {
  const int64_t C = ab.channels, N = ab.frames;
  for (int64_t clip = 0; clip < ab.clips; ++clip) {
    for (int64_t channel = 0; channel < C; ++channel) {
      acc_t total = 0;
      for (int64_t n = 0; n < N; ++n) total += dc_frames[(clip * N + n) * C + channel];
      dc[clip * C + channel] = static_cast<scalar_t>(total);
    }
  }
}

// dx = s (g (1 + c) + gp / P); ds[p] = sum over channels of x (g (1 + c) +
// gp / P), gp the pooled statistic's gradient (none: 0); dc = sum over the
// clip's frames and positions of g x s: per frame first, then over the
// frames of a clip in a fixed order.
template <typename scalar_t>
void apply_attention_backward_impl(
    const scalar_t* g, const scalar_t* x, const scalar_t* s,
    const scalar_t* c, const scalar_t* gp, scalar_t* dx, scalar_t* ds, scalar_t* dc,
    const AttentionBatch& ab) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  const int64_t C = ab.channels, P = ab.positions, N = ab.frames;
  const opmath_t inv_positions = opmath_t(1) / static_cast<opmath_t>(P);
  std::vector<acc_t> dc_frames(ab.clips * N * C);
  for_each_frame_summing_positions<acc_t, opmath_t>(
      ab.clips * N, C, P, ds, [&](int64_t frame, int64_t channel, opmath_t* ds_block) {
        const int64_t row = frame * C + channel;
        const opmath_t scale = 1 + static_cast<opmath_t>(c[(frame / N) * C + channel]);
        const opmath_t shift = gp ? static_cast<opmath_t>(gp[row]) * inv_positions : opmath_t(0);
        dc_frames[row] = attention_backward_row<true, scalar_t, opmath_t, acc_t>(
            g + row * P, x + row * P, s + frame * P, scale, shift, dx + row * P, ds_block, P);
      });
  sum_clip_frames(dc_frames, dc, ab);
}

// dc alone, as apply_attention_backward_impl sums it.
template <typename scalar_t>
void apply_attention_channel_grad_impl(
    const scalar_t* g, const scalar_t* x, const scalar_t* s, scalar_t* dc,
    const AttentionBatch& ab) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  const int64_t C = ab.channels, P = ab.positions;
  std::vector<acc_t> dc_frames(ab.clips * ab.frames * C);
  at::parallel_for(0, ab.clips * ab.frames * C, row_grain(P), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      dc_frames[row] = attention_backward_row<false, scalar_t, opmath_t, acc_t>(
          g + row * P, x + row * P, s + (row / C) * P, 0, 0, nullptr, nullptr, P);
    }
  });
  sum_clip_frames(dc_frames, dc, ab);
}

at::Tensor apply_attention_cpu(
    const at::Tensor& x, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames) {
  const auto in = attention_inputs(x, spatial_mask, channel_mask, num_frames, "CPU");
  auto out = at::empty(in.x.sizes(), in.x.options());
  COSAM_DISPATCH_CPU_TYPES(in.x.scalar_type(), "cosam_apply_attention_cpu", [&] {
    apply_attention_impl<scalar_t>(
        in.x.const_data_ptr<scalar_t>(), in.spatial_mask.const_data_ptr<scalar_t>(),
        in.channel_mask.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), in.ab);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> apply_attention_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x,
    const at::Tensor& spatial_mask, const at::Tensor& channel_mask,
    int64_t num_frames, const std::optional<at::Tensor>& grad_pooled) {
  const auto in = attention_backward_inputs(
      grad, x, spatial_mask, channel_mask, num_frames, grad_pooled, "CPU");
  auto dx = at::empty(in.x.sizes(), in.x.options());
  auto ds = at::empty(in.spatial_mask.sizes(), in.spatial_mask.options());
  auto dc = at::empty(in.channel_mask.sizes(), in.channel_mask.options());
  COSAM_DISPATCH_CPU_TYPES(in.x.scalar_type(), "cosam_apply_attention_backward_cpu", [&] {
    apply_attention_backward_impl<scalar_t>(
        in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(),
        in.spatial_mask.const_data_ptr<scalar_t>(), in.channel_mask.const_data_ptr<scalar_t>(),
        in.grad_pooled.defined() ? in.grad_pooled.const_data_ptr<scalar_t>() : nullptr,
        dx.mutable_data_ptr<scalar_t>(), ds.mutable_data_ptr<scalar_t>(),
        dc.mutable_data_ptr<scalar_t>(), in.ab);
  });
  return {dx, ds, dc};
}

at::Tensor apply_attention_channel_grad_cpu(
    const at::Tensor& grad, const at::Tensor& x,
    const at::Tensor& spatial_mask, int64_t num_frames) {
  const auto in = channel_grad_inputs(grad, x, spatial_mask, num_frames, "CPU");
  auto dc = at::empty({in.ab.clips, in.ab.channels}, in.x.options());
  COSAM_DISPATCH_CPU_TYPES(in.x.scalar_type(), "cosam_apply_attention_channel_grad_cpu", [&] {
    apply_attention_channel_grad_impl<scalar_t>(
        in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(),
        in.spatial_mask.const_data_ptr<scalar_t>(), dc.mutable_data_ptr<scalar_t>(), in.ab);
  });
  return dc;
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CPU, m) {
  m.impl("apply_attention", &apply_attention_cpu);
  m.impl("apply_attention_backward", &apply_attention_backward_cpu);
  m.impl("apply_attention_channel_grad", &apply_attention_channel_grad_cpu);
}

}  // namespace cosam::cpu
