// Autocast for the cosam ops on CUDA. Under torch.autocast the reduction
// conv before ncc_summary returns float16 (or bfloat16) while the summary
// weight stays float32; as for F.linear, the floating inputs are cast to the
// autocast dtype (float64 ones are left alone) and the op is redispatched
// below autocast.
#include <ATen/autocast_mode.h>
#include <torch/library.h>

namespace cosam::cuda {
namespace {

at::Tensor ncc_cost_volume_autocast(
    const at::Tensor& x, int64_t num_frames, double eps) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(
      c10::DispatchKey::AutocastCUDA);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cosam::ncc_cost_volume", "")
                             .typed<decltype(ncc_cost_volume_autocast)>();
  const auto dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  return op.call(at::autocast::cached_cast(dtype, x), num_frames, eps);
}

std::tuple<at::Tensor, at::Tensor> ncc_summary_autocast(
    const at::Tensor& x, const at::Tensor& weight,
    const std::optional<at::Tensor>& bias, int64_t num_frames, double eps) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(
      c10::DispatchKey::AutocastCUDA);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cosam::ncc_summary", "")
                             .typed<decltype(ncc_summary_autocast)>();
  const auto dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  return op.call(
      at::autocast::cached_cast(dtype, x),
      at::autocast::cached_cast(dtype, weight),
      at::autocast::cached_cast(dtype, bias), num_frames, eps);
}

// Elementwise, like torch.mul: the inputs meet in their promoted dtype (a
// float16 map times float32 masks runs in float32), not the autocast dtype.
at::Tensor apply_attention_autocast(
    const at::Tensor& x, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(
      c10::DispatchKey::AutocastCUDA);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cosam::apply_attention", "")
                             .typed<decltype(apply_attention_autocast)>();
  const auto dtype = at::promoteTypes(
      x.scalar_type(),
      at::promoteTypes(spatial_mask.scalar_type(), channel_mask.scalar_type()));
  return op.call(
      x.to(dtype), spatial_mask.to(dtype), channel_mask.to(dtype), num_frames);
}

// A mean of products: like apply_attention, in the promoted dtype.
at::Tensor masked_mean_autocast(const at::Tensor& x, const at::Tensor& spatial_mask) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(
      c10::DispatchKey::AutocastCUDA);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cosam::masked_mean", "")
                             .typed<decltype(masked_mean_autocast)>();
  const auto dtype = at::promoteTypes(x.scalar_type(), spatial_mask.scalar_type());
  return op.call(x.to(dtype), spatial_mask.to(dtype));
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, AutocastCUDA, m) {
  m.impl("ncc_cost_volume", &ncc_cost_volume_autocast);
  m.impl("ncc_summary", &ncc_summary_autocast);
  m.impl("apply_attention", &apply_attention_autocast);
  m.impl("masked_mean", &masked_mean_autocast);
}

}  // namespace cosam::cuda
