// Exclusive prefix and suffix sums over the frames of a clip: V_n from the
// per-frame pairs (hi_m, lo_m), and the adjoint for the backward.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "cpu_kernels.h"

namespace cosam::cpu {
namespace {

// Elements handled together: the loops over frames run outside, the loops
// over a block of adjacent elements of one row inside, so that those vectorise.
constexpr int64_t kChunk = 256;

// Calls fn(row, k0, len) for every block of adjacent elements of every row of
// an (R, K) matrix, in parallel over rows.
template <class Fn>
void parallel_over_row_blocks(int64_t N, int64_t R, int64_t K, Fn&& fn) {
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / (N * K));
  at::parallel_for(0, R, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
        fn(r, k0, std::min(kChunk, K - k0));
      }
    }
  });
}

// pairs (N, 2, R, K): plane 2m holds hi_m, plane 2m + 1 lo_m.
// v[n] = scale * (sum_{m<n} lo_m + sum_{m>n} hi_m).
template <typename scalar_t>
void slot_sums_impl(
    const scalar_t* pairs, scalar_t* v, int64_t N, int64_t R, int64_t K,
    double scale) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  parallel_over_row_blocks(N, R, K, [&](int64_t r, int64_t k0, int64_t len) {
    // Frame m's hi plane starts at pair(m), its lo plane at pair(m) + R * K.
    const auto pair = [&](int64_t m) { return pairs + (2 * m * R + r) * K + k0; };
    const auto out = [&](int64_t n) { return v + (n * R + r) * K + k0; };
    // before = sum_{m<n} lo_m: the forward sweep keeps it per frame, so that
    // the backward sweep adds after = sum_{m>n} hi_m in acc_t.
    // Only the len sums in use are cleared: K is 64 in the layer, a quarter
    // of kChunk.
    acc_t before[kChunk], after[kChunk];
    std::fill_n(before, len, acc_t(0));
    std::fill_n(after, len, acc_t(0));
    for (int64_t n = 0; n < N; ++n) {
      scalar_t* vn = out(n);
      for (int64_t j = 0; j < len; ++j) vn[j] = static_cast<scalar_t>(before[j]);
      if (n == N - 1) break;
      const scalar_t* lon = pair(n) + R * K;
      for (int64_t j = 0; j < len; ++j) before[j] += lon[j];
    }
    for (int64_t n = N - 1; n >= 0; --n) {
      scalar_t* vn = out(n);
      for (int64_t j = 0; j < len; ++j) {
        vn[j] = static_cast<scalar_t>(scale * (static_cast<acc_t>(vn[j]) + after[j]));
      }
      if (n == 0) break;
      const scalar_t* hin = pair(n);
      for (int64_t j = 0; j < len; ++j) after[j] += hin[j];
    }
  });
}

// dhi_m = scale * sum_{n<m} dv[n],  dlo_m = scale * sum_{n>m} dv[n]; both are
// zero where the sums are empty (hi of frame 0, lo of frame N-1).
template <typename scalar_t>
void slot_sums_backward_impl(
    const scalar_t* dv, scalar_t* dpairs, int64_t N, int64_t R, int64_t K,
    double scale) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  parallel_over_row_blocks(N, R, K, [&](int64_t r, int64_t k0, int64_t len) {
    // Frame m's dhi plane starts at dpair(m), its dlo plane at dpair(m) + R * K.
    const auto dpair = [&](int64_t m) { return dpairs + (2 * m * R + r) * K + k0; };
    const auto grad = [&](int64_t n) { return dv + (n * R + r) * K + k0; };
    acc_t upto[kChunk], after[kChunk];
    std::fill_n(upto, len, acc_t(0));
    std::fill_n(after, len, acc_t(0));
    for (int64_t m = 0; m < N; ++m) {
      scalar_t* out = dpair(m);
      const scalar_t* dvm = grad(m);
      for (int64_t j = 0; j < len; ++j) {
        out[j] = static_cast<scalar_t>(scale * upto[j]);
        upto[j] += dvm[j];
      }
    }
    for (int64_t m = N - 1; m >= 0; --m) {
      scalar_t* out = dpair(m) + R * K;
      const scalar_t* dvm = grad(m);
      for (int64_t j = 0; j < len; ++j) {
        out[j] = static_cast<scalar_t>(scale * after[j]);
        after[j] += dvm[j];
      }
    }
  });
}

}  // namespace
}  // namespace cosam::cpu

namespace cosam {

template <>
at::Tensor Kernels<c10::kCPU>::slot_sums(const at::Tensor& pairs, double scale) {
  COSAM_CPU_KERNEL_EVENT("slot_sums");
  const int64_t N = pairs.size(0), R = pairs.size(2), K = pairs.size(3);
  auto v = at::empty({N, R, K}, pairs.options());
  const auto pairs_c = pairs.contiguous();
  COSAM_DISPATCH_CPU_TYPES(pairs.scalar_type(), "cosam_slot_sums_cpu", [&] {
    cpu::slot_sums_impl<scalar_t>(
        pairs_c.const_data_ptr<scalar_t>(), v.mutable_data_ptr<scalar_t>(), N,
        R, K, scale);
  });
  return v;
}

template <>
at::Tensor Kernels<c10::kCPU>::slot_sums_backward(
    const at::Tensor& dv, double scale) {
  COSAM_CPU_KERNEL_EVENT("slot_sums_backward");
  const int64_t N = dv.size(0), R = dv.size(1), K = dv.size(2);
  const auto dv_c = dv.contiguous();
  auto dpairs = at::empty({N, 2, R, K}, dv.options());
  COSAM_DISPATCH_CPU_TYPES(dv.scalar_type(), "cosam_slot_sums_backward_cpu", [&] {
    cpu::slot_sums_backward_impl<scalar_t>(
        dv_c.const_data_ptr<scalar_t>(), dpairs.mutable_data_ptr<scalar_t>(),
        N, R, K, scale);
  });
  return dpairs;
}

}  // namespace cosam
