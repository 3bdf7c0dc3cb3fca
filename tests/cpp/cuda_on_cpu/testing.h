// What the CUDA-on-CPU tests share: named cases, failure counting, the four
// dtypes, NaN-filled outputs, and the comparisons with the CPU backend.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>

#include "simt.h"
// After simt.h, which gives it dim3.
#include "../../../csrc/cuda/kernels/launch_shape.cuh"

namespace cuda_on_cpu {

// A test case registers itself by name (main runs the named ones, or all
// but those whose name starts with '_').
using Case = std::function<void()>;
std::map<std::string, Case>& cases();
struct Register {
  Register(const std::string& name, Case body) { cases()[name] = std::move(body); }
};

// Records a failure (printed at once, counted for main's exit status).
void fail(const std::string& message);
int failures();

// How a test runs the kernels: the harness's options, the cap on
// grid-stride grids (the launchers' kMaxBlocks, lowered to make loops wrap),
// and whether the whole shape sweep runs (--quick: a few shapes, for the
// slow ThreadSanitizer build).
struct Settings {
  int workers = 1;
  bool quick = false;
};
Settings& settings();

// Sizes of a batch of clips of feature maps (B*N, D, H, W).
struct Shape {
  int64_t clips, frames, channels, height, width;
  int64_t positions() const { return height * width; }
  std::string name() const;
};

// The sweep around B=1 N=3 D=9 P=11x3: D in {1 if allowed, 2, 7, 33, 70,
// 256}, P in {1, 31, 32, 33, 77, 128}, N in {2, 8}, B = 3, one size at a
// time, and corners, one with P = 391; --quick keeps five of them.
std::vector<Shape> sweep(int64_t min_channels);
// The shapes also run in reverse and shuffled orders (and with more than one
// block at a time), where every result must have the same bits.
std::vector<Shape> order_sweep();

// One run of a kernel: the harness's options and the cap on grid-stride
// grids (the launchers' kMaxBlocks, or lower to make the loops wrap).
struct Run {
  simt::Options options;
  int64_t max_blocks = cosam::cuda::kMaxBlocks;
  std::string name() const;
};
Run forward_run();
// Reverse and two shuffled orders, with settings().workers OS threads.
std::vector<Run> permuted_runs();
// Grids capped at 1, 3 and 5 blocks for the grid-stride kernels: 1 loops
// over everything in one block; 3 makes row tiles of 3 or more channel
// groups stride over them 3 at a time, and those of one group stride over
// the frames 3 at a time; 5 makes those of two groups stride over the
// frames 2 at a time.
std::vector<Run> wrapping_runs();

// Random inputs, reproducible per test: normal, or in (0, 1) for masks.
at::Tensor normal(at::IntArrayRef sizes, at::ScalarType dtype);
at::Tensor mask(at::IntArrayRef sizes, at::ScalarType dtype);

// The CPU backend's result for inputs of a kernel in `dtype`: in that dtype
// for float32 and float64, in float64 for the half types (see
// expect_matches).
at::ScalarType reference_dtype(at::ScalarType dtype);

// Runs body<scalar_t>() for float, double, c10::Half and c10::BFloat16.
template <typename Body>
void for_each_dtype(Body&& body) {
  body.template operator()<float>();
  body.template operator()<double>();
  body.template operator()<c10::Half>();
  body.template operator()<c10::BFloat16>();
}

template <typename scalar_t>
constexpr at::ScalarType dtype_of() {
  return c10::CppTypeToScalarType<scalar_t>::value;
}

// An output as the launcher allocates it, filled with NaN so that an
// element that no thread writes fails the comparison.
at::Tensor nan_filled(at::IntArrayRef sizes, at::ScalarType dtype);

// Checks a kernel's output: for float32 and float64 against the CPU
// backend in the same dtype (relative 1e-4 and 1e-10); for float16 and bfloat16 against
// the CPU backend in float64 on the same inputs, within twice the error of
// rounding that exact result to the dtype (the bound of tests/test_cuda.py).
// `what` names the kernel, output and case in the message.
void expect_matches(const std::string& what, const at::Tensor& actual, const at::Tensor& expected);

// Checks that two runs in different orders gave the same bits.
void expect_same_bits(const std::string& what, const at::Tensor& actual, const at::Tensor& expected);

// Runs this program's hidden case `name` in a child process and checks that
// it ends in a ThreadSanitizer data-race report mentioning `needle`.
void expect_race_report(const std::string& name, const std::string& needle);

// Checks that body throws an error whose message contains `needle`.
void expect_throws(const std::string& what, const std::function<void()>& body, const std::string& needle);

// The checks of one kernel on one shape in one dtype. run_kernel(run)
// launches it under `run` and returns its outputs (named by `outputs`);
// the forward run's are compared with `expected`; on the order sweep, the
// permuted runs must give the same bits; for a grid-stride kernel, so must
// the wrapping runs.
// covering: one thread or block per piece of work; grid_stride: loops.
enum class Grid { covering, grid_stride };
template <typename RunKernel>
void check_runs(
    const std::string& what, const std::vector<std::string>& outputs,
    const std::vector<at::Tensor>& expected, Grid grid, bool in_order_sweep,
    RunKernel&& run_kernel) {
  const std::vector<at::Tensor> baseline = run_kernel(forward_run());
  for (size_t i = 0; i < outputs.size(); ++i) {
    expect_matches(what + " " + outputs[i], baseline[i], expected[i]);
  }
  std::vector<Run> runs;
  if (in_order_sweep) runs = permuted_runs();
  if (grid == Grid::grid_stride) {
    for (const auto& run : wrapping_runs()) runs.push_back(run);
  }
  for (const auto& run : runs) {
    const std::vector<at::Tensor> again = run_kernel(run);
    for (size_t i = 0; i < outputs.size(); ++i) {
      expect_same_bits(what + " " + outputs[i] + ", " + run.name(), again[i], baseline[i]);
    }
  }
}

// Whether shape is one of order_sweep().
bool in_order_sweep(const Shape& shape);

}  // namespace cuda_on_cpu
