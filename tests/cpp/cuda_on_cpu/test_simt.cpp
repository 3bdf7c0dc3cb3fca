// The harness itself: every thread runs once with its own indices; barriers
// hold; and the bugs it exists to catch are caught, in tiny kernels of its
// own: a row reduction without its first barrier or with its tree one step
// short, a grid-stride loop that stops one element early, a barrier under
// divergent control flow. And the row tiles' launch shapes.
#include "testing.h"
#include "../../../csrc/cuda/kernels/row_tiles.cuh"

namespace cuda_on_cpu {
namespace {

using cosam::cuda::kThreads;

// Each thread of a 2-D grid of 2-D blocks records where it ran.
__global__ void record_indices_kernel(int64_t* seen) {
  const int64_t thread = threadIdx.y * blockDim.x + threadIdx.x;
  const int64_t block = blockIdx.y * gridDim.x + blockIdx.x;
  seen[block * blockDim.x * blockDim.y + thread] +=
      1 + 1000 * (blockDim.x * 1000 + blockDim.y * 100 + gridDim.x * 10 + gridDim.y);
}

// Row sums of blocks of kRowsPerBlock rows of kRowWidth threads: the real
// row_sum, or one with a bug.
constexpr int kRowWidth = 64, kRowsPerBlock = kThreads / kRowWidth;
enum class Bug { none, no_first_barrier, tree_one_step_short };

template <Bug bug>
__device__ double buggy_row_sum(double v, double* partial) {
  if constexpr (bug == Bug::none) {
    return cosam::cuda::row_sum(v, partial);
  } else {
    double* row = partial + threadIdx.y * blockDim.x;
    row[threadIdx.x] = v;
    if constexpr (bug != Bug::no_first_barrier) __syncthreads();
    const unsigned first = bug == Bug::tree_one_step_short ? blockDim.x / 4 : blockDim.x / 2;
    for (unsigned stride = first; stride > 0; stride /= 2) {
      if (threadIdx.x < stride) row[threadIdx.x] += row[threadIdx.x + stride];
      __syncthreads();
    }
    const double total = row[0];
    __syncthreads();
    return total;
  }
}

template <Bug bug>
__global__ void row_sum_kernel(const double* x, double* out) {
  __shared__ double partial[kThreads];
  const int64_t row = blockIdx.x * blockDim.y + threadIdx.y;
  const double total = buggy_row_sum<bug>(x[row * blockDim.x + threadIdx.x], partial);
  if (threadIdx.x == 0) out[row] = total;
}

// Whether the row sums of x (rows of kRowWidth) come out right in every
// order of the threads.
template <Bug bug>
bool row_sums_right_in_every_order(const at::Tensor& x) {
  const auto expected = x.sum(1);
  std::vector<Run> runs{forward_run()};
  for (const auto& run : permuted_runs()) runs.push_back(run);
  for (const auto& run : runs) {
    at::Tensor out = nan_filled({x.size(0)}, at::kDouble);
    const double* x_data = x.const_data_ptr<double>();
    double* out_data = out.mutable_data_ptr<double>();
    simt::launch("row_sum_kernel", dim3(static_cast<unsigned>(x.size(0) / kRowsPerBlock)),
                 dim3(kRowWidth, kRowsPerBlock), [&] { row_sum_kernel<bug>(x_data, out_data); }, run.options);
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

// Hidden (run by name only): the race of a row sum without its first
// barrier, for the TSan build to report.
const Register planted_race_case("_row_sum_without_first_barrier", [] {
  const auto x = at::randn({5 * kRowsPerBlock, kRowWidth}, at::kDouble);
  row_sums_right_in_every_order<Bug::no_first_barrier>(x);
});

// row_tile_launch: the blocks' rows (W threads, R rows) for rows of P
// positions, and the grid's caps.
void check_row_tile_shapes() {
  using Expected = std::tuple<int64_t, unsigned, unsigned>;
  for (const auto& [P, width, rows] : std::vector<Expected>{
           {1, 32, 8}, {31, 32, 8}, {32, 32, 8}, {33, 32, 8}, {63, 32, 8}, {64, 64, 4}, {77, 64, 4},
           {128, 128, 2}, {255, 128, 2}, {256, 256, 1}, {391, 256, 1}, {2048, 256, 1}}) {
    const auto shape = cosam::cuda::row_tile_launch(3, 9, P);
    if (shape.threads.x != width || shape.threads.y != rows || shape.grid.x != (9 + rows - 1) / rows ||
        shape.grid.y != 3) {
      fail("row_tile_launch: P = " + std::to_string(P) + " gives blocks of " + std::to_string(shape.threads.x) +
           "x" + std::to_string(shape.threads.y) + " threads in a grid of " + std::to_string(shape.grid.x) + "x" +
           std::to_string(shape.grid.y));
    }
  }
  // COSAM_4's 128 frames of 1024 channels of 128 positions fill kMaxBlocks
  // exactly; more frames loop, and never past CUDA's y limit.
  for (const auto& [frames, x, y] : std::vector<Expected>{{128, 512, 128}, {256, 512, 128}, {1, 512, 1}}) {
    const auto shape = cosam::cuda::row_tile_launch(frames, 1024, 128);
    if (shape.grid.x != x || shape.grid.y != y) {
      fail("row_tile_launch: COSAM_4's grid with " + std::to_string(frames) + " frames");
    }
  }
  const auto tall = cosam::cuda::row_tile_launch(1000000, 1, 1);
  if (tall.grid.x != 1 || tall.grid.y != cosam::cuda::kMaxGridY) {
    fail("row_tile_launch: a million frames of one channel");
  }
}

const Register simt_case("simt", [] {
  at::manual_seed(0);
  // Indices: 4x2 blocks of 32x8 threads, each thread exactly once.
  for (const auto& run : permuted_runs()) {
    auto seen = at::zeros({4 * 2 * 32 * 8}, at::kLong);
    int64_t* seen_data = seen.mutable_data_ptr<int64_t>();
    simt::launch("record_indices_kernel", dim3(4, 2), dim3(32, 8),
                 [&] { record_indices_kernel(seen_data); }, run.options);
    if (!at::equal(seen, at::full_like(seen, 1 + 1000 * (32000 + 800 + 40 + 2)))) {
      fail("simt: a thread ran twice, never, or saw wrong blockDim/gridDim (" + run.name() + ")");
    }
  }

  // Reductions: 5 blocks of 4 rows each.
  const auto x = at::randn({5 * kRowsPerBlock, kRowWidth}, at::kDouble);
  if (!row_sums_right_in_every_order<Bug::none>(x)) fail("simt: row_sum is wrong");
#if defined(__SANITIZE_THREAD__)
  // Under TSan the race itself is the finding: the case below, run as a
  // child process, must end in a ThreadSanitizer report.
  expect_race_report("_row_sum_without_first_barrier", "buggy_row_sum");
#else
  if (row_sums_right_in_every_order<Bug::no_first_barrier>(x)) {
    fail("simt: a row sum without its first barrier went unnoticed");
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
    simt::launch("copy_kernel", shape.grid, shape.threads,
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
                [&] { simt::launch("copy_kernel", 0, dim3(kThreads), [] {}, options); }, "a grid of 0x1x1 blocks");
  expect_throws("simt: a grid past CUDA's y limit",
                [&] { simt::launch("copy_kernel", dim3(1, 65536), dim3(kThreads), [] {}, options); },
                "a grid of 1x65536x1 blocks");

  check_row_tile_shapes();
});

}  // namespace
}  // namespace cuda_on_cpu
