// apply_attention_kernel, apply_attention_backward_rows_kernel and
// apply_attention_backward_positions_kernel (csrc/cuda/kernels/
// apply_attention.cuh) against the CPU ops cosam::apply_attention,
// cosam::apply_attention_backward (with the pooled statistic's gradient) and
// cosam::apply_attention_channel_grad (the rows kernel writing no dx).
#include <ATen/core/dispatch/Dispatcher.h>

#include "testing.h"
#include "../../../csrc/cuda/kernels/apply_attention.cuh"

namespace cuda_on_cpu {
namespace {

using at::Tensor;
using cosam::AttentionBatch;

AttentionBatch attention_of(const Shape& s) {
  return {s.clips, s.frames, s.channels, s.positions()};
}

template <typename scalar_t>
std::vector<Tensor> apply_attention_on_simt(
    const Tensor& x, const Tensor& s, const Tensor& c, const AttentionBatch& ab, const Run& run) {
  at::Tensor out = nan_filled(x.sizes(), dtype_of<scalar_t>());
  const scalar_t* x_data = x.const_data_ptr<scalar_t>();
  const scalar_t* s_data = s.const_data_ptr<scalar_t>();
  const scalar_t* c_data = c.const_data_ptr<scalar_t>();
  scalar_t* out_data = out.mutable_data_ptr<scalar_t>();
  const auto shape = cosam::cuda::apply_attention_rows_launch(ab, run.max_blocks);
  const auto clip = cosam::cuda::clip_of(ab, "apply_attention");
  simt::launch("apply_attention_kernel", shape.grid, shape.threads, [&] {
    cosam::cuda::apply_attention_kernel<scalar_t>(x_data, s_data, c_data, out_data, ab, clip);
  }, run.options);
  return {out};
}

// dx and the per-row shares of dc from the rows kernel, summed over the
// frames as the launcher does; ds from the positions kernel. gp: the pooled
// statistic's gradient (undefined: none). channel_grad_only: the rows kernel
// alone, writing no dx, as apply_attention_channel_grad launches it.
template <typename scalar_t>
std::vector<Tensor> apply_attention_backward_on_simt(
    const Tensor& g, const Tensor& x, const Tensor& s, const Tensor& c, const Tensor& gp,
    bool channel_grad_only, const AttentionBatch& ab, const Run& run) {
  using acc_t = at::opmath_type<scalar_t>;
  at::Tensor dx = nan_filled(x.sizes(), dtype_of<scalar_t>());
  at::Tensor ds = nan_filled(s.sizes(), dtype_of<scalar_t>());
  at::Tensor dc_rows = nan_filled({ab.clips, ab.frames, ab.channels}, dtype_of<acc_t>());
  const scalar_t* g_data = g.const_data_ptr<scalar_t>();
  const scalar_t* x_data = x.const_data_ptr<scalar_t>();
  const scalar_t* s_data = s.const_data_ptr<scalar_t>();
  const scalar_t* c_data = channel_grad_only ? nullptr : c.const_data_ptr<scalar_t>();
  const scalar_t* gp_data = channel_grad_only || !gp.defined() ? nullptr : gp.const_data_ptr<scalar_t>();
  scalar_t* dx_data = channel_grad_only ? nullptr : dx.mutable_data_ptr<scalar_t>();
  scalar_t* ds_data = ds.mutable_data_ptr<scalar_t>();
  acc_t* dc_rows_data = dc_rows.mutable_data_ptr<acc_t>();
  const auto rows = cosam::cuda::apply_attention_rows_launch(ab, run.max_blocks);
  const auto clip = cosam::cuda::clip_of(ab, "apply_attention_backward");
  simt::launch("apply_attention_backward_rows_kernel", rows.grid, rows.threads, [&] {
    cosam::cuda::apply_attention_backward_rows_kernel<scalar_t>(
        g_data, x_data, s_data, c_data, gp_data, dx_data, dc_rows_data, ab, clip);
  }, run.options);
  const auto dc = dc_rows.sum(1).to(dtype_of<scalar_t>());
  if (channel_grad_only) return {dc};
  const auto positions = cosam::cuda::apply_attention_backward_positions_launch(ab);
  simt::launch("apply_attention_backward_positions_kernel", positions.grid, positions.threads, [&] {
    if (gp_data) {
      cosam::cuda::apply_attention_backward_positions_kernel<scalar_t, true>(g_data, x_data, c_data, gp_data, ds_data, ab);
    } else {
      cosam::cuda::apply_attention_backward_positions_kernel<scalar_t, false>(g_data, x_data, c_data, nullptr, ds_data, ab);
    }
  }, run.options);
  return {dx, ds, dc};
}

template <typename scalar_t>
void check_shape(const Shape& shape) {
  const auto dtype = dtype_of<scalar_t>(), ref = reference_dtype(dtype);
  const AttentionBatch ab = attention_of(shape);
  const int64_t frames = shape.clips * shape.frames;
  const auto x = normal({frames, shape.channels, shape.height, shape.width}, dtype);
  const auto s = mask({frames, 1, shape.height, shape.width}, dtype);
  const auto c = mask({shape.clips, shape.channels}, dtype);
  const auto g = normal(x.sizes(), dtype);
  const bool permute = in_order_sweep(shape);

  static const auto forward = c10::Dispatcher::singleton()
      .findSchemaOrThrow("cosam::apply_attention", "")
      .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, int64_t)>();
  static const auto backward = c10::Dispatcher::singleton()
      .findSchemaOrThrow("cosam::apply_attention_backward", "")
      .typed<std::tuple<Tensor, Tensor, Tensor>(
          const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, const std::optional<Tensor>&)>();
  static const auto channel_grad = c10::Dispatcher::singleton()
      .findSchemaOrThrow("cosam::apply_attention_channel_grad", "")
      .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, int64_t)>();
  check_runs("apply_attention_kernel " + shape.name(), {"out"},
             {forward.call(x.to(ref), s.to(ref), c.to(ref), shape.frames)}, Grid::grid_stride, permute,
             [&](const Run& run) { return apply_attention_on_simt<scalar_t>(x, s, c, ab, run); });
  // Both kernels of the backward: row tiles (dx, dc; they wrap under a
  // lower cap) and column tiles (ds); without the pooled statistic's
  // gradient (apply_attention's own backward) and with it (channel_attention's).
  const auto gp = normal({frames, shape.channels}, dtype);
  for (const bool pooled : {false, true}) {
    const auto gp_or_none = pooled ? gp : Tensor();
    const auto [dx, ds, dc] = backward.call(
        g.to(ref), x.to(ref), s.to(ref), c.to(ref), shape.frames,
        pooled ? std::optional<Tensor>(gp.to(ref)) : std::nullopt);
    check_runs(std::string("apply_attention_backward kernels") + (pooled ? ", grad_pooled " : " ") + shape.name(),
               {"dx", "ds", "dc"}, {dx, ds, dc}, Grid::grid_stride, permute, [&](const Run& run) {
                 return apply_attention_backward_on_simt<scalar_t>(g, x, s, c, gp_or_none, false, ab, run);
               });
  }
  check_runs("apply_attention_channel_grad (rows kernel, no dx) " + shape.name(), {"dc"},
             {channel_grad.call(g.to(ref), x.to(ref), s.to(ref), shape.frames)}, Grid::grid_stride, permute,
             [&](const Run& run) {
               return apply_attention_backward_on_simt<scalar_t>(g, x, s, c, gp, true, ab, run);
             });
}

const Register apply_attention_case("apply_attention", [] {
  at::manual_seed(0);
  for (const auto& shape : sweep(/*min_channels=*/1)) {
    for_each_dtype([&]<typename scalar_t>() { check_shape<scalar_t>(shape); });
  }
  const AttentionBatch empty{0, 3, 9, 33};
  if (cosam::cuda::apply_attention_rows_launch(empty).blocks() != 0 ||
      cosam::cuda::apply_attention_backward_positions_launch(empty).blocks() != 0) {
    fail("apply_attention launches: an empty batch has blocks");
  }
});

}  // namespace
}  // namespace cuda_on_cpu
