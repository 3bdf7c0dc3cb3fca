// A SIMT execution harness: runs the CUDA kernels of csrc/cuda/kernels/ as
// host code, so that their indexing, reductions and barriers are tested on
// machines without a GPU. Include it after the ATen headers and before the
// kernel headers: it supplies what nvcc would (dim3, threadIdx and the other
// built-in indices, __syncthreads, the __global__/__device__/__shared__
// qualifiers), and simt::launch, which runs a kernel on a grid.
//
// Each emulated thread is a fiber with its own stack and its own threadIdx;
// a block's fibers run on one OS thread, between barriers one after another
// in an order the caller chooses, so that code which relies on an order the
// GPU does not promise gives other results under another order. __shared__
// variables are per OS thread, and the blocks an OS thread runs follow one
// another, so each block has its shared memory to itself. Several OS threads
// run blocks at once (ThreadSanitizer then sees blocks that write one
// element). A thread that returns leaves the barrier, as on the GPU; a block
// whose threads pass different numbers of __syncthreads fails its launch
// with the kernel's name. (Threads that wait at two different __syncthreads
// of one phase are not told apart: an optimising compiler may duplicate one
// barrier into several call sites.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x = 1, unsigned int y = 1, unsigned int z = 1)
      : x(x), y(y), z(z) {}
};

namespace simt {
// The running thread's built-in indices. Functions rather than extern
// thread_local variables: GCC's UBSan reports a null pointer on reading an
// extern thread_local object through its TLS wrapper on a fiber's stack.
const dim3& thread_index();
const dim3& block_index();
const dim3& block_shape();
const dim3& grid_shape();
}  // namespace simt

#define threadIdx (::simt::thread_index())
#define blockIdx (::simt::block_index())
#define blockDim (::simt::block_shape())
#define gridDim (::simt::grid_shape())

// A barrier across the threads of the calling block.
void __syncthreads();

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// Per OS thread, hence per block (see above); like the GPU's, it holds
// whatever the block before left there.
#define __shared__ static thread_local

namespace simt {

// The order in which a block's threads run between two barriers (and in
// which blocks are handed to the OS threads).
enum class Order { forward, reverse, shuffled };

struct Options {
  Order order = Order::forward;
  uint64_t seed = 0;  // of Order::shuffled
  int workers = 1;    // OS threads running blocks at once
};

const char* name_of(Order order);

// Runs body() once per thread of a grid of shape `grid` of blocks of shape
// `threads`, with threadIdx, blockIdx, blockDim and gridDim set; throws
// std::runtime_error naming `kernel` if the grid is empty or past CUDA's
// limits, or if a block's threads pass different numbers of barriers.
void launch(
    const std::string& kernel, dim3 grid, dim3 threads,
    const std::function<void()>& body, const Options& options);

}  // namespace simt
