// Block-wide sum of the CUDA kernels that reduce a row per block.
#pragma once

#include "launch_shape.cuh"

namespace cosam::cuda {

// Sum of v over a block of kThreads threads, in a fixed order (shared-memory
// tree); partial holds kThreads values.
template <typename acc_t>
__device__ inline acc_t block_sum(acc_t v, acc_t* partial) {
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  const acc_t total = partial[0];
  // No thread may overwrite partial (a next block_sum) before all read it.
  __syncthreads();
  return total;
}

}  // namespace cosam::cuda
