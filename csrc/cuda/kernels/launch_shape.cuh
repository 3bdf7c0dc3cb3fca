// Launch shapes of the CUDA kernels, computed on the host by the .cu
// launchers and, with the same functions, by the CPU harness that runs the
// kernels (tests/cpp/cuda_on_cpu/), so both launch exactly the same grid.
// Needs dim3: nvcc declares it, the harness's simt.h does on the CPU.
#pragma once

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace cosam::cuda {

// Threads of a 1-D block; block_sum's tree halves it, so a power of two.
constexpr int kThreads = 256;
static_assert(kThreads > 0 && (kThreads & (kThreads - 1)) == 0,
              "block_sum needs a power-of-two block");
// More blocks than this would only wait for a free SM; grid-stride loops
// cover the rest. The harness passes a lower cap to make those loops wrap.
constexpr int64_t kMaxBlocks = 65536;

struct LaunchShape {
  int64_t blocks;  // a 1-D grid
  dim3 threads;
};

// One thread per element, in grid-stride loops.
inline LaunchShape grid_stride_launch(
    int64_t elements, int64_t max_blocks = kMaxBlocks) {
  return {std::min((elements + kThreads - 1) / kThreads, max_blocks),
          dim3(kThreads)};
}

// One block of kThreads per row (reduced with block_sum); op names the op
// in the message.
inline LaunchShape block_per_row_launch(int64_t rows, const char* op) {
  TORCH_CHECK(
      rows <= std::numeric_limits<int32_t>::max(), op, ": x has too many ",
      "(frame, channel) rows for one grid: ", rows);
  return {rows, dim3(kThreads)};
}

__device__ inline int64_t first_element() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ inline int64_t grid_stride() {
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
}

}  // namespace cosam::cuda
