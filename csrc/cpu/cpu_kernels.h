// What the CPU kernels share. Kernels<c10::kCPU> of ncc_algebra.h is defined
// in normalize.cpp and slot_sums.cpp.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

#include "../ncc_algebra.h"

namespace cosam::cpu {

// AT_DISPATCH over the dtypes check_dtype accepts. Sums over positions or
// channels end in at::acc_type (double for float32 and float64, float32 for
// float16 and bfloat16); the backward rows compute in at::opmath_type (as
// the CUDA kernels do) and hand their sums over to acc_type every
// kChannelBlock channels.
#define COSAM_DISPATCH_CPU_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(                \
      at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

// A profiler event named "cosam::kernel::" NAME for a member of
// Kernels<c10::kCPU>: where the CUDA backend launches one kernel, the CPU
// profile shows one event, so that the launches of an op can be counted on
// the CPU (tests/test_launches.py).
#define COSAM_CPU_KERNEL_EVENT(NAME) \
  RECORD_FUNCTION("cosam::kernel::" NAME, std::vector<c10::IValue>())

// The inner loops of the CPU kernels, compiled for AVX-512F and AVX2 beside
// the baseline, the loader choosing the clone the machine runs: a build for
// every x86-64 machine (a wheel) still uses the vector units of the one it
// runs on. ISA flags, not "arch=" targets: GCC inlines nothing (the
// loops' conversions and lane sums) into a function of another arch, and
// the calls would cost more than the vectors gain. Elsewhere, one version.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define COSAM_CPU_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define COSAM_CPU_CLONES
#endif

// Grain of a parallel_for over rows of P positions (one per frame and
// channel): enough rows per task that a task amortises its start-up.
inline int64_t row_grain(int64_t positions) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / positions);
}

// Interleaved partial sums in the row loops: one running sum is a chain of
// dependent adds that the compiler may not reorder, so it cannot vectorise;
// kLanes chains (one AVX-512 register of float) can.
constexpr int64_t kLanes = 16;

// Channels whose shares of a position sum are added in the row loop's own
// precision before they join the sum in acc_t (see below).
constexpr int64_t kChannelBlock = 16;

// A sum over C channels taken in blocks of kChannelBlock: per block,
// start() clears the partial sums, channel(c) adds channel c's shares to
// them in the loop's own precision, and finish() adds them to the sums in
// acc_t. The loops of the backward kernels that sum over channels share it.
template <typename StartFn, typename ChannelFn, typename FinishFn>
inline void for_each_channel_block(int64_t C, StartFn&& start, ChannelFn&& channel, FinishFn&& finish) {
  for (int64_t first = 0; first < C; first += kChannelBlock) {
    start();
    for (int64_t c = first; c < std::min(C, first + kChannelBlock); ++c) channel(c);
    finish();
  }
}

// sums[p] += block[p].
template <typename block_t, typename acc_t>
COSAM_CPU_CLONES void add_block(const block_t* __restrict__ block, acc_t* __restrict__ sums, int64_t P) {
  for (int64_t p = 0; p < P; ++p) sums[p] += block[p];
}

// The loop of the backward kernels that also sum over channels per position:
// parallel over frames of C rows of P positions, row(frame, channel, block)
// handles one row and adds its share to P partial sums in block_t, the
// precision the row computes in (float for float32 maps), so that the row
// vectorises at full width. Every kChannelBlock channels the partial sums are
// added into the frame's P sums in acc_t (double for float32), which then go
// to position_sums[frame]: a sum over C channels rounds as one over
// kChannelBlock in block_t, the rest in acc_t. Each frame has one owner: no
// two threads add to one value, so the result is deterministic.
template <typename acc_t, typename block_t, typename scalar_t, typename RowFn>
void for_each_frame_summing_positions(
    int64_t frames, int64_t C, int64_t P, scalar_t* position_sums, RowFn&& row) {
  at::parallel_for(
      0, frames, std::max<int64_t>(1, row_grain(P) / C),
      [&](int64_t begin, int64_t end) {
        std::vector<acc_t> sums(P);
        std::vector<block_t> block(P);
        for (int64_t frame = begin; frame < end; ++frame) {
          std::fill(sums.begin(), sums.end(), acc_t(0));
          for_each_channel_block(
              C, [&] { std::fill(block.begin(), block.end(), block_t(0)); },
              [&](int64_t channel) { row(frame, channel, block.data()); },
              [&] { add_block(block.data(), sums.data(), P); });
          for (int64_t p = 0; p < P; ++p) {
            position_sums[frame * P + p] = static_cast<scalar_t>(sums[p]);
          }
        }
      });
}

}  // namespace cosam::cpu
