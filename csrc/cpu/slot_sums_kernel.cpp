// Exclusive prefix and suffix sums over the frames of a clip: V_n from the
// per-frame products lo_m and hi_m, and the adjoint for the backward.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "cpu_kernels.h"

namespace cosam::cpu {
namespace {

// Elements per task: each element walks all N frames.
constexpr int64_t kGrain = 4096;

template <typename scalar_t>
void slot_sums_impl(
    const scalar_t* lo, const scalar_t* hi, scalar_t* v, int64_t N,
    int64_t E, double scale) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  at::parallel_for(0, E, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      acc_t before = 0;  // sum_{m<n} lo[m]
      for (int64_t n = 0; n < N; ++n) {
        v[n * E + i] = static_cast<scalar_t>(before);
        if (n < N - 1) before += lo[n * E + i];
      }
      acc_t after = 0;  // sum_{m>n} hi[m-1]
      for (int64_t n = N - 1; n >= 0; --n) {
        v[n * E + i] = static_cast<scalar_t>(
            scale * (static_cast<acc_t>(v[n * E + i]) + after));
        if (n > 0) after += hi[(n - 1) * E + i];
      }
    }
  });
}

// dlo[s] = scale * sum_{n>s} dv[n],  dhi[s] = scale * sum_{n<=s} dv[n].
template <typename scalar_t>
void slot_sums_backward_impl(
    const scalar_t* dv, scalar_t* dlo, scalar_t* dhi, int64_t N, int64_t E,
    double scale) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  at::parallel_for(0, E, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      acc_t upto = 0;
      for (int64_t s = 0; s < N - 1; ++s) {
        upto += dv[s * E + i];
        dhi[s * E + i] = static_cast<scalar_t>(scale * upto);
      }
      acc_t after = 0;
      for (int64_t s = N - 2; s >= 0; --s) {
        after += dv[(s + 1) * E + i];
        dlo[s * E + i] = static_cast<scalar_t>(scale * after);
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
