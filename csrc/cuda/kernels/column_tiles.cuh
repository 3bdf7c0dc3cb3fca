// Column tiles, the launch shape of the kernels that reduce over the channels
// at each position: one block per frame and tile of kCols adjacent
// positions, of kRows rows of kCols threads. Each warp reads one channel row
// of the tile (contiguous in NCHW), the kRows warps stride over the
// channels, and column_sum combines the per-position sums in shared memory
// in a fixed order, so results are deterministic. A block holds kCols*kRows
// threads whatever the number of channels, so a map of P positions puts
// ceil(P/kCols)*kCols*kRows threads per frame on the card.
#pragma once

#include "launch_shape.cuh"

namespace cosam::cuda {

constexpr int kCols = 32;  // positions per block: one warp per channel row
constexpr int kRows = 8;   // channel rows read at once
static_assert(kCols == 32, "a tile row is one warp");
static_assert(kCols * kRows <= 1024, "a CUDA block holds at most 1024 threads");

// `maps` frames of `positions` positions; op names the op in the message.
inline LaunchShape column_tile_launch(int64_t maps, int64_t positions, const char* op) {
  const int64_t blocks = maps * ((positions + kCols - 1) / kCols);
  TORCH_CHECK(
      blocks <= std::numeric_limits<int32_t>::max(), op,
      ": x has too many frames and positions for one grid (", maps,
      " frames of ", positions, " positions)");
  return {dim3(static_cast<unsigned>(blocks)), dim3(kCols, kRows)};
}

// This thread's frame and position in a column-tile launch over maps of P
// positions; valid is false past the frame's last position.
struct TilePosition {
  int64_t frame;
  int64_t position;
  bool valid;
};

__device__ inline TilePosition tile_position(int64_t P) {
  const int64_t tiles = (P + kCols - 1) / kCols;
  const int64_t p = (blockIdx.x % tiles) * kCols + threadIdx.x;
  return {blockIdx.x / tiles, p, p < P};
}

// Sum of v over the kRows threads of this thread's column, in a fixed order.
// Every thread of the block calls it (a barrier inside).
template <typename acc_t>
__device__ inline acc_t column_sum(acc_t v, acc_t (&partial)[kRows][kCols]) {
  partial[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  acc_t total = 0;
  for (int r = 0; r < kRows; ++r) total += partial[r][threadIdx.x];
  __syncthreads();
  return total;
}

}  // namespace cosam::cuda
