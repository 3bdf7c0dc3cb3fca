// Exclusive prefix and suffix sums over the frames of a clip: V_n from the
// per-frame products lo_m and hi_m, and the adjoint for the backward.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "cpu_kernels.h"

namespace cosam::cpu {
namespace {

// Elements handled together: the loops over frames run outside, the loops
// over a chunk of adjacent elements inside, so that those vectorise.
constexpr int64_t kChunk = 256;

// Calls fn(i0, len) for every chunk of the E elements, in parallel.
template <class Fn>
void parallel_over_chunks(int64_t N, int64_t E, Fn&& fn) {
  const int64_t chunks = (E + kChunk - 1) / kChunk;
  const int64_t grain =
      std::max<int64_t>(1, at::internal::GRAIN_SIZE / (N * kChunk));
  at::parallel_for(0, chunks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      fn(c * kChunk, std::min(kChunk, E - c * kChunk));
    }
  });
}

template <typename scalar_t>
void slot_sums_impl(
    const scalar_t* lo, const scalar_t* hi, scalar_t* v, int64_t N,
    int64_t E, double scale) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  parallel_over_chunks(N, E, [&](int64_t i0, int64_t len) {
    // before[n] = sum_{m<n} lo[m]: the forward sweep keeps it per frame, so
    // that the backward sweep adds after = sum_{m>n} hi[m-1] in acc_t.
    acc_t before[kChunk] = {}, after[kChunk] = {};
    for (int64_t n = 0; n < N; ++n) {
      scalar_t* vn = v + n * E + i0;
      for (int64_t j = 0; j < len; ++j) vn[j] = static_cast<scalar_t>(before[j]);
      if (n == N - 1) break;
      const scalar_t* lon = lo + n * E + i0;
      for (int64_t j = 0; j < len; ++j) before[j] += lon[j];
    }
    for (int64_t n = N - 1; n >= 0; --n) {
      scalar_t* vn = v + n * E + i0;
      for (int64_t j = 0; j < len; ++j) {
        vn[j] = static_cast<scalar_t>(scale * (static_cast<acc_t>(vn[j]) + after[j]));
      }
      if (n == 0) break;
      const scalar_t* hin = hi + (n - 1) * E + i0;
      for (int64_t j = 0; j < len; ++j) after[j] += hin[j];
    }
  });
}

// dlo[s] = scale * sum_{n>s} dv[n],  dhi[s] = scale * sum_{n<=s} dv[n].
template <typename scalar_t>
void slot_sums_backward_impl(
    const scalar_t* dv, scalar_t* dlo, scalar_t* dhi, int64_t N, int64_t E,
    double scale) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  parallel_over_chunks(N, E, [&](int64_t i0, int64_t len) {
    acc_t upto[kChunk] = {}, after[kChunk] = {};
    for (int64_t s = 0; s < N - 1; ++s) {
      const scalar_t* dvs = dv + s * E + i0;
      scalar_t* dhis = dhi + s * E + i0;
      for (int64_t j = 0; j < len; ++j) {
        upto[j] += dvs[j];
        dhis[j] = static_cast<scalar_t>(scale * upto[j]);
      }
    }
    for (int64_t s = N - 2; s >= 0; --s) {
      const scalar_t* dvn = dv + (s + 1) * E + i0;
      scalar_t* dlos = dlo + s * E + i0;
      for (int64_t j = 0; j < len; ++j) {
        after[j] += dvn[j];
        dlos[j] = static_cast<scalar_t>(scale * after[j]);
      }
    }
  });
}

}  // namespace

at::Tensor CpuKernels::slot_sums(
    const at::Tensor& lo, const at::Tensor& hi, double scale) {
  const int64_t N = lo.size(0) + 1;
  auto v = at::empty({N, lo.size(1), lo.size(2)}, lo.options());
  const auto lo_c = lo.contiguous(), hi_c = hi.contiguous();
  AT_DISPATCH_FLOATING_TYPES(lo.scalar_type(), "cosam_slot_sums_cpu", [&] {
    slot_sums_impl<scalar_t>(
        lo_c.const_data_ptr<scalar_t>(), hi_c.const_data_ptr<scalar_t>(),
        v.mutable_data_ptr<scalar_t>(), N, lo.size(1) * lo.size(2), scale);
  });
  return v;
}

std::tuple<at::Tensor, at::Tensor> CpuKernels::slot_sums_backward(
    const at::Tensor& dv, double scale) {
  const int64_t N = dv.size(0);
  const auto dv_c = dv.contiguous();
  auto dlo = at::empty({N - 1, dv.size(1), dv.size(2)}, dv.options());
  auto dhi = at::empty_like(dlo);
  AT_DISPATCH_FLOATING_TYPES(dv.scalar_type(), "cosam_slot_sums_backward_cpu", [&] {
    slot_sums_backward_impl<scalar_t>(
        dv_c.const_data_ptr<scalar_t>(), dlo.mutable_data_ptr<scalar_t>(),
        dhi.mutable_data_ptr<scalar_t>(), N, dv.size(1) * dv.size(2), scale);
  });
  return {dlo, dhi};
}

}  // namespace cosam::cpu
