// normalize_kernel and normalize_backward_kernel (csrc/cuda/kernels/
// normalize.cuh) against Kernels<c10::kCPU>::normalize and normalize_backward.
#include "testing.h"
#include "../../../csrc/ncc_algebra.h"
#include "../../../csrc/cuda/kernels/normalize.cuh"

namespace cuda_on_cpu {
namespace {

using at::Tensor;
using cosam::FrameBatch;
using CpuKernels = cosam::Kernels<c10::kCPU>;

constexpr double kEps = 1e-4;

FrameBatch frames_of(const Shape& s) {
  return {s.clips, s.frames, s.channels, s.height, s.width, s.positions()};
}

template <typename scalar_t>
std::vector<Tensor> normalize_on_simt(const Tensor& x, const FrameBatch& fb, const Run& run) {
  using acc_t = at::opmath_type<scalar_t>;
  at::Tensor z = nan_filled({fb.frames, fb.clips, fb.channels, fb.positions}, dtype_of<scalar_t>());
  at::Tensor mean = nan_filled({fb.frames, fb.clips, fb.positions}, dtype_of<acc_t>());
  at::Tensor stdev = nan_filled({fb.frames, fb.clips, fb.positions}, dtype_of<acc_t>());
  const scalar_t* x_data = x.const_data_ptr<scalar_t>();
  scalar_t* z_data = z.mutable_data_ptr<scalar_t>();
  acc_t* mean_data = mean.mutable_data_ptr<acc_t>();
  acc_t* stdev_data = stdev.mutable_data_ptr<acc_t>();
  const auto shape = cosam::cuda::normalize_launch(fb);
  simt::launch("normalize_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::normalize_kernel<scalar_t>(x_data, z_data, mean_data, stdev_data, fb, acc_t(kEps));
  }, run.options);
  return {z, mean, stdev};
}

template <typename scalar_t>
std::vector<Tensor> normalize_backward_on_simt(
    const Tensor& dz, const Tensor& x, const Tensor& mean, const Tensor& stdev,
    const FrameBatch& fb, const Run& run) {
  using acc_t = at::opmath_type<scalar_t>;
  at::Tensor dx = nan_filled(x.sizes(), dtype_of<scalar_t>());
  const scalar_t* dz_data = dz.const_data_ptr<scalar_t>();
  const scalar_t* x_data = x.const_data_ptr<scalar_t>();
  const acc_t* mean_data = mean.const_data_ptr<acc_t>();
  const acc_t* stdev_data = stdev.const_data_ptr<acc_t>();
  scalar_t* dx_data = dx.mutable_data_ptr<scalar_t>();
  const auto shape = cosam::cuda::normalize_launch(fb);
  simt::launch("normalize_backward_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::normalize_backward_kernel<scalar_t>(
        dz_data, x_data, mean_data, stdev_data, dx_data, fb, acc_t(kEps));
  }, run.options);
  return {dx};
}

template <typename scalar_t>
void check_shape(const Shape& s) {
  using acc_t = at::opmath_type<scalar_t>;
  const auto dtype = dtype_of<scalar_t>(), ref = reference_dtype(dtype);
  const FrameBatch fb = frames_of(s);
  auto x = normal({s.clips * s.frames, s.channels, s.height, s.width}, dtype);
  // A position constant over the channels: std 0, the backward's special case.
  x[0].select(1, 0).select(1, 0).fill_(0.5);
  const auto dz = normal({s.frames, s.clips, s.channels, s.positions()}, dtype);
  const bool permute = in_order_sweep(s);

  const auto [z, mean, stdev] = CpuKernels::normalize(x.to(ref), fb, kEps);
  check_runs("normalize_kernel " + s.name(), {"z", "mean", "stdev"}, {z, mean, stdev},
             Grid::covering, permute,
             [&](const Run& run) { return normalize_on_simt<scalar_t>(x, fb, run); });

  // The backward takes the statistics in acc_t, as the forward leaves them.
  const auto mean_in = mean.to(dtype_of<acc_t>()), stdev_in = stdev.to(dtype_of<acc_t>());
  const auto dx = CpuKernels::normalize_backward(
      dz.to(ref), x.to(ref), mean_in.to(ref), stdev_in.to(ref), fb, kEps);
  check_runs("normalize_backward_kernel " + s.name(), {"dx"}, {dx}, Grid::covering, permute,
             [&](const Run& run) {
               return normalize_backward_on_simt<scalar_t>(dz, x, mean_in, stdev_in, fb, run);
             });
}

// The backward at a position spread by ~eps around a mean of 3 (std ~ eps):
// the float statistics round the mean by ~1e-7, ~1e-3 of x - mean there,
// which the backward has to centre away as the CPU kernel does (it
// accumulates in double). Float32 only: in the half types such a spread
// rounds to a constant. The forward's z differs there by that rounding
// times 1/eps in any float32 kernel, so only the backward is compared.
void check_near_constant_backward(const Shape& s) {
  const FrameBatch fb = frames_of(s);
  auto x = normal({s.clips * s.frames, s.channels, s.height, s.width}, at::kFloat);
  x.select(2, 0).select(2, 0).copy_(3.0 + 1e-4 * normal({s.clips * s.frames, s.channels}, at::kDouble));
  const auto dz = normal({s.frames, s.clips, s.channels, s.positions()}, at::kFloat);
  const auto [z, mean, stdev] = CpuKernels::normalize(x, fb, kEps);
  const auto dx = CpuKernels::normalize_backward(dz, x, mean, stdev, fb, kEps);
  check_runs("normalize_backward_kernel near-constant " + s.name(), {"dx"}, {dx}, Grid::covering,
             in_order_sweep(s), [&](const Run& run) {
               return normalize_backward_on_simt<float>(dz, x, mean, stdev, fb, run);
             });
}

const Register normalize_case("normalize", [] {
  at::manual_seed(0);
  for (const auto& shape : sweep(/*min_channels=*/2)) {
    for_each_dtype([&]<typename scalar_t>() { check_shape<scalar_t>(shape); });
  }
  for (const auto& shape : sweep(/*min_channels=*/2)) check_near_constant_backward(shape);
  // An empty batch launches nothing (the launcher returns first).
  if (cosam::cuda::normalize_launch(frames_of({0, 3, 9, 11, 3})).blocks() != 0) {
    fail("normalize_launch: an empty batch has blocks");
  }
});

}  // namespace
}  // namespace cuda_on_cpu
