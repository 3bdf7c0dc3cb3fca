// slot_sums_kernel and slot_sums_backward_kernel (csrc/cuda/kernels/
// slot_sums.cuh) against Kernels<c10::kCPU>::slot_sums and slot_sums_backward.
#include "testing.h"
#include "../../../csrc/ncc_algebra.h"
#include "../../../csrc/cuda/kernels/slot_sums.cuh"

namespace cuda_on_cpu {
namespace {

using at::Tensor;
using CpuKernels = cosam::Kernels<c10::kCPU>;

// Output channels of the summary conv: K, odd.
constexpr int64_t kOut = 5;

template <typename scalar_t>
std::vector<Tensor> slot_sums_on_simt(const Tensor& pairs, double scale, const Run& run) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t N = pairs.size(0), R = pairs.size(2), K = pairs.size(3);
  at::Tensor v = nan_filled({N, R, K}, dtype_of<scalar_t>());
  const scalar_t* pairs_data = pairs.const_data_ptr<scalar_t>();
  scalar_t* v_data = v.mutable_data_ptr<scalar_t>();
  const auto shape = cosam::cuda::slot_sums_launch(R, K, run.max_blocks);
  simt::launch("slot_sums_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::slot_sums_kernel<scalar_t>(pairs_data, v_data, N, R, K, acc_t(scale));
  }, run.options);
  return {v};
}

template <typename scalar_t>
std::vector<Tensor> slot_sums_backward_on_simt(const Tensor& dv, double scale, const Run& run) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t N = dv.size(0), R = dv.size(1), K = dv.size(2);
  at::Tensor dpairs = nan_filled({N, 2, R, K}, dtype_of<scalar_t>());
  const scalar_t* dv_data = dv.const_data_ptr<scalar_t>();
  scalar_t* dpairs_data = dpairs.mutable_data_ptr<scalar_t>();
  const auto shape = cosam::cuda::slot_sums_launch(R, K, run.max_blocks);
  simt::launch("slot_sums_backward_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::slot_sums_backward_kernel<scalar_t>(dv_data, dpairs_data, N, R, K, acc_t(scale));
  }, run.options);
  return {dpairs};
}

// As the ops use them: N frames of (R, K) = (B*D, K) matrices, scale 1/D.
template <typename scalar_t>
void check_shape(const Shape& s) {
  const auto dtype = dtype_of<scalar_t>(), ref = reference_dtype(dtype);
  const int64_t N = s.frames, R = s.clips * s.channels, K = kOut;
  const double scale = 1.0 / s.channels;
  auto pairs = normal({N, 2, R, K}, dtype);
  // The planes no slot reads (hi of frame 0, lo of frame N-1): a kernel
  // that reads them returns NaN.
  pairs[0][0].fill_(std::numeric_limits<double>::quiet_NaN());
  pairs[N - 1][1].fill_(std::numeric_limits<double>::quiet_NaN());
  const auto dv = normal({N, R, K}, dtype);
  const bool permute = in_order_sweep(s);

  check_runs("slot_sums_kernel " + s.name(), {"v"}, {CpuKernels::slot_sums(pairs.to(ref), scale)},
             Grid::grid_stride, permute,
             [&](const Run& run) { return slot_sums_on_simt<scalar_t>(pairs, scale, run); });
  check_runs("slot_sums_backward_kernel " + s.name(), {"dpairs"},
             {CpuKernels::slot_sums_backward(dv.to(ref), scale)}, Grid::grid_stride, permute,
             [&](const Run& run) { return slot_sums_backward_on_simt<scalar_t>(dv, scale, run); });
}

const Register slot_sums_case("slot_sums", [] {
  at::manual_seed(0);
  for (const auto& shape : sweep(/*min_channels=*/2)) {
    for_each_dtype([&]<typename scalar_t>() { check_shape<scalar_t>(shape); });
  }
  if (cosam::cuda::slot_sums_launch(0, kOut).blocks() != 0) {
    fail("slot_sums_launch: an empty batch has blocks");
  }
});

}  // namespace
}  // namespace cuda_on_cpu
