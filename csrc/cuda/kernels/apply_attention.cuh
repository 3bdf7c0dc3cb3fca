// Device code of cosam::apply_attention, out = x * s * (1 + c), s the spatial
// mask of the frame, c the channel mask of its clip, and of its backward
// (compiled by nvcc, and as host code by the CPU harness). Half types
// compute and accumulate in float. No atomics: each reduction has one owner,
// so results are deterministic.
#pragma once

#include <ATen/OpMathType.h>
#include <ATen/cuda/detail/IntegerDivider.cuh>

#include "../../op_checks.h"
#include "column_tiles.cuh"
#include "row_tiles.cuh"

namespace cosam::cuda {

// A frame's clip, frame / N, by a multiply-high and a shift rather than a
// division (for frames up to INT32_MAX).
using ClipOf = at::cuda::detail::IntDivider<unsigned int>;

// op names the op in the message.
inline ClipOf clip_of(const AttentionBatch& ab, const char* op) {
  TORCH_CHECK(
      ab.frames <= std::numeric_limits<int32_t>::max() &&
          ab.clips * ab.frames <= std::numeric_limits<int32_t>::max(),
      op, ": x has too many frames (", ab.clips * ab.frames,
      " in clips of ", ab.frames, ")");
  return ClipOf(static_cast<unsigned int>(ab.frames));
}

// The forward and the backward's rows kernel: row tiles.
inline LaunchShape apply_attention_rows_launch(
    const AttentionBatch& ab, int64_t max_blocks = kMaxBlocks) {
  return row_tile_launch(ab.clips * ab.frames, ab.channels, ab.positions, max_blocks);
}

inline LaunchShape apply_attention_backward_positions_launch(const AttentionBatch& ab) {
  return column_tile_launch(
      ab.clips * ab.frames, ab.positions, "cosam::apply_attention_backward");
}

// 1 + c for a row: the channel mask of its clip and channel.
template <typename scalar_t>
__device__ inline at::opmath_type<scalar_t> channel_scale(
    const scalar_t* c, const ClipOf& clip, const TileRow& at, int64_t C) {
  const int64_t clip_index = clip.div(static_cast<unsigned int>(at.frame));
  return at::opmath_type<scalar_t>(1) +
      static_cast<at::opmath_type<scalar_t>>(c[clip_index * C + at.channel]);
}

// Row tiles over the (frame, channel) rows.
template <typename scalar_t>
__global__ void apply_attention_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s,
    const scalar_t* __restrict__ c, scalar_t* __restrict__ out,
    AttentionBatch ab, ClipOf clip) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t P = ab.positions, C = ab.channels;
  for_each_row(ab.clips * ab.frames, C, [&](const TileRow& at) {
    if (!at.valid) return;
    const int64_t row = at.frame * C + at.channel;
    const acc_t scale = channel_scale(c, clip, at, C);
    for (int64_t p = threadIdx.x; p < P; p += blockDim.x) {
      out[row * P + p] = static_cast<scalar_t>(
          static_cast<acc_t>(x[row * P + p]) * static_cast<acc_t>(s[at.frame * P + p]) * scale);
    }
  });
}

// The pooled statistic's share of a row's gradient, gp times 1 / P (no gp: 0).
template <typename scalar_t>
__device__ inline at::opmath_type<scalar_t> pooled_shift(
    const scalar_t* gp, int64_t row, at::opmath_type<scalar_t> inv_positions) {
  using acc_t = at::opmath_type<scalar_t>;
  return gp ? static_cast<acc_t>(gp[row]) * inv_positions : acc_t(0);
}

// Row tiles over the (frame, channel) rows: the row's share of dc,
// sum_p g x s, into dc_rows, and, unless dx is null (the channel mask's
// gradient alone), dx = s (g (1 + c) + gp / P) for the row (gp null: 0).
template <typename scalar_t>
__global__ void apply_attention_backward_rows_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ s, const scalar_t* __restrict__ c,
    const scalar_t* __restrict__ gp, scalar_t* __restrict__ dx,
    at::opmath_type<scalar_t>* __restrict__ dc_rows, AttentionBatch ab, ClipOf clip) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kThreads];
  const int64_t P = ab.positions, C = ab.channels;
  for_each_row(ab.clips * ab.frames, C, [&](const TileRow& at) {
    const int64_t row = at.frame * C + at.channel;
    // Rows past the last channel read nothing but join the sum.
    const int64_t positions = at.valid ? P : 0;
    const bool writes_dx = at.valid && dx != nullptr;
    const acc_t scale = writes_dx ? channel_scale(c, clip, at, C) : acc_t(0);
    const acc_t shift = writes_dx ? pooled_shift(gp, row, acc_t(1) / static_cast<acc_t>(P)) : acc_t(0);
    acc_t dc_part = 0;
    for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
      const acc_t gv = static_cast<acc_t>(g[row * P + p]);
      const acc_t sv = static_cast<acc_t>(s[at.frame * P + p]);
      if (writes_dx) dx[row * P + p] = static_cast<scalar_t>((gv * scale + shift) * sv);
      dc_part += gv * static_cast<acc_t>(x[row * P + p]) * sv;
    }
    const acc_t total = row_sum(dc_part, partial);
    if (at.valid && threadIdx.x == 0) dc_rows[row] = total;
  });
}

// Column tiles over the frames: ds = sum over channels of x (g (1 + c) +
// gp / P), each thread walking every kRows-th channel of its position.
// kPooled false: no gp (apply_attention's own backward), a loop that loads
// nothing more.
template <typename scalar_t, bool kPooled>
__global__ void apply_attention_backward_positions_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ c, const scalar_t* __restrict__ gp,
    scalar_t* __restrict__ ds, AttentionBatch ab) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kRows][kCols];
  const int64_t P = ab.positions, C = ab.channels;
  const TilePosition at = tile_position(P);
  // Threads past the last position read nothing but join the sum.
  const int64_t channels = at.valid ? C : 0;
  const scalar_t* cf = c + (at.frame / ab.frames) * C;
  const scalar_t* gpf = kPooled ? gp + at.frame * C : nullptr;
  const acc_t inv_positions = acc_t(1) / static_cast<acc_t>(P);
  acc_t sum = 0;
  for (int64_t channel = threadIdx.y; channel < channels; channel += kRows) {
    const int64_t element = (at.frame * C + channel) * P + at.position;
    acc_t through = static_cast<acc_t>(g[element]) * (acc_t(1) + static_cast<acc_t>(cf[channel]));
    if constexpr (kPooled) through += static_cast<acc_t>(gpf[channel]) * inv_positions;
    sum += through * static_cast<acc_t>(x[element]);
  }
  const acc_t total = column_sum(sum, partial);
  if (at.valid && threadIdx.y == 0) ds[at.frame * P + at.position] = static_cast<scalar_t>(total);
}

}  // namespace cosam::cuda
