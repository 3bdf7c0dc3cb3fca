// Device code of cosam::masked_mean, the mean over positions of x * s, s
// the spatial mask of the frame, and of its backward (compiled by nvcc, and
// as host code by the CPU harness). Half types compute and accumulate in
// float. No atomics: each sum has one owner, so results are deterministic.
#pragma once

#include <ATen/OpMathType.h>

#include "column_tiles.cuh"
#include "row_tiles.cuh"

namespace cosam::cuda {

inline LaunchShape masked_mean_launch(
    int64_t frames, int64_t C, int64_t P, int64_t max_blocks = kMaxBlocks) {
  return row_tile_launch(frames, C, P, max_blocks);
}

inline LaunchShape masked_mean_backward_launch(int64_t frames, int64_t P) {
  return column_tile_launch(frames, P, "cosam::masked_mean_backward");
}

// Row tiles over the (frame, channel) rows.
template <typename scalar_t>
__global__ void masked_mean_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ s,
    scalar_t* __restrict__ out, int64_t frames, int64_t C, int64_t P) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kThreads];
  for_each_row(frames, C, [&](const TileRow& at) {
    const int64_t row = at.frame * C + at.channel;
    // Rows past the last channel read nothing but join the sum.
    const int64_t positions = at.valid ? P : 0;
    acc_t sum = 0;
    for (int64_t p = threadIdx.x; p < positions; p += blockDim.x) {
      sum += static_cast<acc_t>(x[row * P + p]) * static_cast<acc_t>(s[at.frame * P + p]);
    }
    const acc_t total = row_sum(sum, partial);
    if (at.valid && threadIdx.x == 0) out[row] = static_cast<scalar_t>(total / P);
  });
}

// Column tiles over the frames: each thread walks every kRows-th channel of
// its position, writing dx = g s / P, and the tile sums ds = sum_c g x / P.
template <typename scalar_t>
__global__ void masked_mean_backward_kernel(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ s, scalar_t* __restrict__ dx,
    scalar_t* __restrict__ ds, int64_t C, int64_t P) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kRows][kCols];
  const TilePosition at = tile_position(P);
  const int64_t i = at.frame * P + at.position;
  // Threads past the last position read nothing but join the sum.
  const int64_t channels = at.valid ? C : 0;
  const acc_t sv = at.valid ? static_cast<acc_t>(s[i]) / P : acc_t(0);
  acc_t sum = 0;
  for (int64_t channel = threadIdx.y; channel < channels; channel += kRows) {
    const int64_t row = at.frame * C + channel, element = row * P + at.position;
    const acc_t gv = static_cast<acc_t>(g[row]);
    dx[element] = static_cast<scalar_t>(gv * sv);
    sum += gv * static_cast<acc_t>(x[element]);
  }
  const acc_t total = column_sum(sum, partial);
  if (at.valid && threadIdx.y == 0) ds[i] = static_cast<scalar_t>(total / P);
}

}  // namespace cosam::cuda
