// The harness itself: every thread runs once with its own indices; barriers
// hold; and the bugs it exists to catch are caught, in tiny kernels of its
// own: a block reduction without its first barrier or with its tree one step
// short, a grid-stride loop that stops one element early, a barrier under
// divergent control flow.
#include "testing.h"
#include "../../../csrc/cuda/kernels/block_sum.cuh"

namespace cuda_on_cpu {
namespace {

using cosam::cuda::kThreads;

// Each thread of a 2-D block records where it ran.
__global__ void record_indices_kernel(int64_t* seen) {
  const int64_t thread = threadIdx.y * blockDim.x + threadIdx.x;
  const int64_t slot = blockIdx.x * blockDim.x * blockDim.y + thread;
  seen[slot] += 1 + 1000 * (blockDim.x * 100 + blockDim.y * 10 + gridDim.x);
}

// A block sum of its block's values: the real block_sum, or with a bug.
enum class Bug { none, no_first_barrier, tree_one_step_short };

template <Bug bug>
__device__ double buggy_block_sum(double v, double* partial) {
  if constexpr (bug == Bug::none) {
    return cosam::cuda::block_sum(v, partial);
  } else {
    partial[threadIdx.x] = v;
    if constexpr (bug != Bug::no_first_barrier) __syncthreads();
    const int first = bug == Bug::tree_one_step_short ? kThreads / 4 : kThreads / 2;
    for (int stride = first; stride > 0; stride /= 2) {
      if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
      __syncthreads();
    }
    const double total = partial[0];
    __syncthreads();
    return total;
  }
}

template <Bug bug>
__global__ void row_sum_kernel(const double* x, double* out) {
  __shared__ double partial[kThreads];
  const double total = buggy_block_sum<bug>(x[blockIdx.x * kThreads + threadIdx.x], partial);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

// Whether the row sums of x come out right in every order of the threads.
template <Bug bug>
bool row_sums_right_in_every_order(const at::Tensor& x) {
  const auto expected = x.sum(1);
  std::vector<Run> runs{forward_run()};
  for (const auto& run : permuted_runs()) runs.push_back(run);
  for (const auto& run : runs) {
    at::Tensor out = nan_filled({x.size(0)}, at::kDouble);
    const double* x_data = x.const_data_ptr<double>();
    double* out_data = out.mutable_data_ptr<double>();
    simt::launch("row_sum_kernel", x.size(0), dim3(kThreads),
                 [&] { row_sum_kernel<bug>(x_data, out_data); }, run.options);
    if (!at::allclose(out, expected, 1e-12, 1e-12)) return false;
  }
  return true;
}

// Copies x to out in a grid-stride loop, one element short if `short_by_one`.
__global__ void copy_kernel(const double* x, double* out, int64_t n, bool short_by_one) {
  const int64_t end = short_by_one ? n - 1 : n;
  for (int64_t i = cosam::cuda::first_element(); i < end; i += cosam::cuda::grid_stride()) {
    out[i] = x[i];
  }
}

__global__ void barrier_in_branch_kernel() {
  if (threadIdx.x < 128) __syncthreads();
}

__global__ void early_return_kernel(double* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// Hidden (run by name only): the race of a block sum without its first
// barrier, for the TSan build to report.
const Register planted_race_case("_block_sum_without_first_barrier", [] {
  const auto x = at::randn({5, kThreads}, at::kDouble);
  row_sums_right_in_every_order<Bug::no_first_barrier>(x);
});

const Register simt_case("simt", [] {
  at::manual_seed(0);
  // Indices: 3 blocks of 32x8 threads, each thread exactly once.
  for (const auto& run : permuted_runs()) {
    auto seen = at::zeros({3 * 32 * 8}, at::kLong);
    int64_t* seen_data = seen.mutable_data_ptr<int64_t>();
    simt::launch("record_indices_kernel", 3, dim3(32, 8),
                 [&] { record_indices_kernel(seen_data); }, run.options);
    if (!at::equal(seen, at::full_like(seen, 1 + 1000 * (3200 + 80 + 3)))) {
      fail("simt: a thread ran twice, never, or saw wrong blockDim/gridDim (" + run.name() + ")");
    }
  }

  // Reductions: 5 blocks, each its own row.
  const auto x = at::randn({5, kThreads}, at::kDouble);
  if (!row_sums_right_in_every_order<Bug::none>(x)) fail("simt: block_sum is wrong");
#if defined(__SANITIZE_THREAD__)
  // Under TSan the race itself is the finding: the case below, run as a
  // child process, must end in a ThreadSanitizer report.
  expect_race_report("_block_sum_without_first_barrier", "buggy_block_sum");
#else
  if (row_sums_right_in_every_order<Bug::no_first_barrier>(x)) {
    fail("simt: a block sum without its first barrier went unnoticed");
  }
#endif
  if (row_sums_right_in_every_order<Bug::tree_one_step_short>(x)) {
    fail("simt: a reduction tree one step short went unnoticed");
  }

  // Grid-stride loops, in a grid smaller than the work.
  const int64_t n = 1000;
  const auto values = at::randn({n}, at::kDouble);
  for (bool short_by_one : {false, true}) {
    at::Tensor out = nan_filled({n}, at::kDouble);
    const double* in_data = values.const_data_ptr<double>();
    double* out_data = out.mutable_data_ptr<double>();
    const auto shape = cosam::cuda::grid_stride_launch(n, /*max_blocks=*/2);
    simt::launch("copy_kernel", shape.blocks, shape.threads,
                 [&] { copy_kernel(in_data, out_data, n, short_by_one); }, forward_run().options);
    if (at::equal(out, values) == short_by_one) {
      fail(std::string("simt: a grid-stride copy ") +
           (short_by_one ? "one element short went unnoticed" : "is wrong"));
    }
  }

  // Barriers that the threads of a block do not all pass together.
  const auto options = forward_run().options;
  expect_throws("simt: a barrier in a branch",
                [&] { simt::launch("barrier_in_branch_kernel", 2, dim3(kThreads), barrier_in_branch_kernel, options); },
                "barrier_in_branch_kernel, block 0: thread 0 passed 1 __syncthreads() but thread 128 passed 0");
  auto out = at::zeros({kThreads}, at::kDouble);
  double* out_data = out.mutable_data_ptr<double>();
  expect_throws("simt: a thread returning before a barrier",
                [&] { simt::launch("early_return_kernel", 1, dim3(kThreads), [&] { early_return_kernel(out_data); }, options); },
                "early_return_kernel, block 0: thread 0 passed 1 __syncthreads() but thread 5 passed 0");
  // ...which leaves the barrier: the others finish.
  if (out.sum().item<double>() != kThreads - 1) fail("simt: a returned thread held the barrier");
  expect_throws("simt: an empty grid",
                [&] { simt::launch("copy_kernel", 0, dim3(kThreads), [] {}, options); }, "a grid of 0 blocks");
});

}  // namespace
}  // namespace cuda_on_cpu
