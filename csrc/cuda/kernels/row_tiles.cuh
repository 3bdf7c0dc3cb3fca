// Row tiles, the launch shape of the kernels that work along the (frame,
// channel) rows of a map of P positions: masked_mean_kernel,
// apply_attention_kernel and apply_attention_backward_rows_kernel.
//
// A block of kThreads threads holds R = kThreads / W rows of W threads
// (threadIdx.x along the row, threadIdx.y the row), each row of threads on
// one (frame, channel) row. W is the largest power of two <= P, at least 32
// (one warp) and at most kThreads: every thread has a position when P >= 32,
// a warp serves a row of up to 63 positions, and longer rows loop. Blocks
// stay kThreads wide whatever W: an SM holds at most 32 blocks, so blocks of
// one warp would leave it half empty. The grid: x over groups of R adjacent
// channels, y over frames, each in a grid-stride loop (at most max_blocks
// blocks, kMaxGridY in y), so a thread finds its frame and channel with no
// division. row_sum reduces each row of threads in shared memory in a fixed
// order: deterministic.
#pragma once

#include "launch_shape.cuh"

namespace cosam::cuda {

// W for rows of `positions` positions.
inline int row_width(int64_t positions) {
  int width = 32;
  while (width < kThreads && 2 * width <= positions) width *= 2;
  return width;
}

// `frames` frames of `channels` rows of `positions` positions.
inline LaunchShape row_tile_launch(
    int64_t frames, int64_t channels, int64_t positions,
    int64_t max_blocks = kMaxBlocks) {
  const int width = row_width(positions), rows = kThreads / width;
  const int64_t groups = (channels + rows - 1) / rows;
  const int64_t x = std::min(groups, max_blocks);
  const int64_t y = std::min({frames, kMaxGridY, max_blocks / std::max<int64_t>(x, 1)});
  return {dim3(static_cast<unsigned>(x), static_cast<unsigned>(y)),
          dim3(static_cast<unsigned>(width), static_cast<unsigned>(rows))};
}

// A row this thread's row of threads visits; valid is false for the rows
// of threads of a frame's last group that lie past its last channel: they
// read and write nothing but join row_sum.
struct TileRow {
  int64_t frame;
  int64_t channel;
  bool valid;
};

// Calls visit(TileRow) for each row of this thread in a row-tile launch
// over `frames` frames of `channels` rows. Every thread of a block makes
// the same calls (the loops depend on block indices only), so visit may
// call row_sum.
template <typename Visit>
__device__ inline void for_each_row(int64_t frames, int64_t channels, Visit&& visit) {
  const int64_t group = static_cast<int64_t>(blockIdx.x) * blockDim.y;
  const int64_t group_stride = static_cast<int64_t>(gridDim.x) * blockDim.y;
  for (int64_t frame = blockIdx.y; frame < frames; frame += gridDim.y) {
    for (int64_t first = group; first < channels; first += group_stride) {
      const int64_t channel = first + threadIdx.y;
      visit(TileRow{frame, channel, channel < channels});
    }
  }
}

// Sum of v over this thread's row of threads, in a fixed order (a
// shared-memory tree); partial holds kThreads values. Every thread of the
// block calls it (barriers inside).
template <typename acc_t>
__device__ inline acc_t row_sum(acc_t v, acc_t* partial) {
  acc_t* row = partial + threadIdx.y * blockDim.x;
  row[threadIdx.x] = v;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) row[threadIdx.x] += row[threadIdx.x + stride];
    __syncthreads();
  }
  const acc_t total = row[0];
  // No thread may overwrite partial (a next row_sum) before all read it.
  __syncthreads();
  return total;
}

}  // namespace cosam::cuda
