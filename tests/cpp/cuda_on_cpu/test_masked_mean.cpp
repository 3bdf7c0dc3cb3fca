// masked_mean_kernel and masked_mean_backward_kernel (csrc/cuda/kernels/
// masked_mean.cuh) against the CPU ops cosam::masked_mean(_backward).
#include <ATen/core/dispatch/Dispatcher.h>

#include "testing.h"
#include "../../../csrc/cuda/kernels/masked_mean.cuh"

namespace cuda_on_cpu {
namespace {

using at::Tensor;

template <typename scalar_t>
std::vector<Tensor> masked_mean_on_simt(const Tensor& x, const Tensor& s, const Run& run) {
  const int64_t frames = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
  at::Tensor out = nan_filled({frames, C}, dtype_of<scalar_t>());
  const scalar_t* x_data = x.const_data_ptr<scalar_t>();
  const scalar_t* s_data = s.const_data_ptr<scalar_t>();
  scalar_t* out_data = out.mutable_data_ptr<scalar_t>();
  const auto shape = cosam::cuda::masked_mean_launch(frames, C, P, run.max_blocks);
  simt::launch("masked_mean_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::masked_mean_kernel<scalar_t>(x_data, s_data, out_data, frames, C, P);
  }, run.options);
  return {out};
}

template <typename scalar_t>
std::vector<Tensor> masked_mean_backward_on_simt(
    const Tensor& g, const Tensor& x, const Tensor& s, const Run& run) {
  const int64_t frames = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
  at::Tensor dx = nan_filled(x.sizes(), dtype_of<scalar_t>());
  at::Tensor ds = nan_filled(s.sizes(), dtype_of<scalar_t>());
  const scalar_t* g_data = g.const_data_ptr<scalar_t>();
  const scalar_t* x_data = x.const_data_ptr<scalar_t>();
  const scalar_t* s_data = s.const_data_ptr<scalar_t>();
  scalar_t* dx_data = dx.mutable_data_ptr<scalar_t>();
  scalar_t* ds_data = ds.mutable_data_ptr<scalar_t>();
  const auto shape = cosam::cuda::masked_mean_backward_launch(frames, P);
  simt::launch("masked_mean_backward_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::masked_mean_backward_kernel<scalar_t>(g_data, x_data, s_data, dx_data, ds_data, C, P);
  }, run.options);
  return {dx, ds};
}

template <typename scalar_t>
void check_shape(const Shape& shape) {
  const auto dtype = dtype_of<scalar_t>(), ref = reference_dtype(dtype);
  const int64_t frames = shape.clips * shape.frames;
  const auto x = normal({frames, shape.channels, shape.height, shape.width}, dtype);
  const auto s = mask({frames, 1, shape.height, shape.width}, dtype);
  const auto g = normal({frames, shape.channels}, dtype);
  const bool permute = in_order_sweep(shape);

  static const auto forward = c10::Dispatcher::singleton()
      .findSchemaOrThrow("cosam::masked_mean", "").typed<Tensor(const Tensor&, const Tensor&)>();
  static const auto backward = c10::Dispatcher::singleton()
      .findSchemaOrThrow("cosam::masked_mean_backward", "")
      .typed<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&)>();
  check_runs("masked_mean_kernel " + shape.name(), {"out"}, {forward.call(x.to(ref), s.to(ref))},
             Grid::grid_stride, permute,
             [&](const Run& run) { return masked_mean_on_simt<scalar_t>(x, s, run); });
  const auto [dx, ds] = backward.call(g.to(ref), x.to(ref), s.to(ref));
  check_runs("masked_mean_backward_kernel " + shape.name(), {"dx", "ds"}, {dx, ds},
             Grid::covering, permute,
             [&](const Run& run) { return masked_mean_backward_on_simt<scalar_t>(g, x, s, run); });
}

const Register masked_mean_case("masked_mean", [] {
  at::manual_seed(0);
  for (const auto& shape : sweep(/*min_channels=*/1)) {
    for_each_dtype([&]<typename scalar_t>() { check_shape<scalar_t>(shape); });
  }
  if (cosam::cuda::masked_mean_launch(0, 9, 33).blocks() != 0 ||
      cosam::cuda::masked_mean_backward_launch(0, 33).blocks() != 0) {
    fail("masked_mean launches: an empty batch has blocks");
  }
});

}  // namespace
}  // namespace cuda_on_cpu
