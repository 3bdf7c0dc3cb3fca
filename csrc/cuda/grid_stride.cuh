// Launch shape shared by the elementwise CUDA kernels: blocks of kThreads
// threads that loop over the elements with a grid stride, so any size fits
// a grid of at most kMaxBlocks blocks (more would only wait for a free SM).
#pragma once

#include <algorithm>
#include <cstdint>

namespace cosam::cuda {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;

inline int64_t blocks_for(int64_t elements) {
  return std::min((elements + kThreads - 1) / kThreads, kMaxBlocks);
}

__device__ inline int64_t first_element() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ inline int64_t grid_stride() {
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
}

}  // namespace cosam::cuda
