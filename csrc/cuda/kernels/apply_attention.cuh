// Device code of cosam::apply_attention, out = x * s * (1 + c), s the spatial
// mask of the frame, c the channel mask of its clip, and of its backward
// (compiled by nvcc, and as host code by the CPU harness). Half types
// compute and accumulate in float. No atomics: each reduction has one owner,
// so results are deterministic.
#pragma once

#include <ATen/OpMathType.h>

#include "../../op_checks.h"
#include "block_sum.cuh"
#include "column_tiles.cuh"

namespace cosam::cuda {

inline LaunchShape apply_attention_launch(
    const AttentionBatch& ab, int64_t max_blocks = kMaxBlocks) {
  return grid_stride_launch(
      ab.clips * ab.frames * ab.channels * ab.positions, max_blocks);
}

inline LaunchShape apply_attention_backward_rows_launch(const AttentionBatch& ab) {
  return block_per_row_launch(
      ab.clips * ab.frames * ab.channels, "cosam::apply_attention_backward");
}

inline LaunchShape apply_attention_backward_positions_launch(const AttentionBatch& ab) {
  return column_tile_launch(
      ab.clips * ab.frames, ab.positions, "cosam::apply_attention_backward");
}

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

// Column tiles over the frames: ds = sum over channels of g x (1 + c), each
// thread walking every kRows-th channel of its position.
template <typename scalar_t>
__global__ void apply_attention_backward_positions_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ c, scalar_t* __restrict__ ds,
    AttentionBatch ab) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kRows][kCols];
  const int64_t P = ab.positions, C = ab.channels;
  const TilePosition at = tile_position(P);
  // Threads past the last position read nothing but join the sum.
  const int64_t channels = at.valid ? C : 0;
  const scalar_t* cf = c + (at.frame / ab.frames) * C;
  acc_t sum = 0;
  for (int64_t channel = threadIdx.y; channel < channels; channel += kRows) {
    const int64_t element = (at.frame * C + channel) * P + at.position;
    sum += static_cast<acc_t>(g[element]) * static_cast<acc_t>(x[element]) *
        (acc_t(1) + static_cast<acc_t>(cf[channel]));
  }
  const acc_t total = column_sum(sum, partial);
  if (at.valid && threadIdx.y == 0) ds[at.frame * P + at.position] = static_cast<scalar_t>(total);
}

}  // namespace cosam::cuda
