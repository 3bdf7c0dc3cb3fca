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

// Threads of a block; the row reductions' trees halve a row of it, so a
// power of two.
constexpr int kThreads = 256;
static_assert(kThreads > 0 && (kThreads & (kThreads - 1)) == 0,
              "row_sum needs power-of-two rows");
// More blocks than this would only wait for a free SM; grid-stride loops
// cover the rest. The harness passes a lower cap to make those loops wrap.
constexpr int64_t kMaxBlocks = 65536;
// CUDA's limit on a grid's y (and z) extent.
constexpr int64_t kMaxGridY = 65535;

struct LaunchShape {
  dim3 grid;
  dim3 threads;
  int64_t blocks() const { return int64_t{grid.x} * grid.y * grid.z; }
};

// One thread per element, in grid-stride loops.
inline LaunchShape grid_stride_launch(
    int64_t elements, int64_t max_blocks = kMaxBlocks) {
  const int64_t blocks = std::min((elements + kThreads - 1) / kThreads, max_blocks);
  return {dim3(static_cast<unsigned>(blocks)), dim3(kThreads)};
}

__device__ inline int64_t first_element() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ inline int64_t grid_stride() {
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
}

}  // namespace cosam::cuda
