// cosam::apply_attention on CUDA: the launchers of kernels/apply_attention.cuh.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include "../op_checks.h"
#include "cuda_kernels.h"
#include "kernels/apply_attention.cuh"

namespace cosam::cuda {
namespace {

at::Tensor apply_attention_cuda(
    const at::Tensor& x_in, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames) {
  const char* op = "cosam::apply_attention";
  const auto ab = check_attention(x_in, spatial_mask, channel_mask, num_frames, op);
  const auto device_guard = guard_device_of(x_in);
  check_dtype(x_in, "x", "CUDA");
  const auto x = x_in.contiguous();
  const auto s = spatial_mask.contiguous(), c = channel_mask.contiguous();
  auto out = at::empty(x.sizes(), x.options());
  const auto shape = apply_attention_rows_launch(ab);
  if (x.numel() == 0) return out;
  const auto clip = clip_of(ab, op);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_apply_attention_cuda", [&] {
        apply_attention_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
                c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), ab, clip);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> apply_attention_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask, const at::Tensor& channel_mask,
    int64_t num_frames, const std::optional<at::Tensor>& grad_pooled) {
  const char* op = "cosam::apply_attention_backward";
  const auto ab = check_attention(x_in, spatial_mask, channel_mask, num_frames, op);
  const auto device_guard = guard_device_of(x_in);
  check_dtype(x_in, "x", "CUDA");
  check_grad(grad_in, x_in, x_in.sizes(), op);
  check_grad_pooled(grad_pooled, x_in, op);
  const auto x = x_in.contiguous(), grad = grad_in.contiguous();
  const auto s = spatial_mask.contiguous(), c = channel_mask.contiguous();
  const auto gp = grad_pooled.has_value() && grad_pooled->defined()
      ? grad_pooled->contiguous() : at::Tensor();
  auto dx = at::empty(x.sizes(), x.options());
  auto ds = at::empty(s.sizes(), s.options());
  const auto rows_shape = apply_attention_rows_launch(ab);
  const auto positions_shape = apply_attention_backward_positions_launch(ab);
  auto dc_rows = at::empty(
      {ab.clips, ab.frames, ab.channels},
      x.options().dtype(at::toOpMathType(x.scalar_type())));
  if (x.numel() == 0) {
    return {dx, ds.zero_(), at::zeros_like(c)};
  }
  const auto clip = clip_of(ab, op);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(),
      "cosam_apply_attention_backward_cuda", [&] {
        const auto stream = at::cuda::getCurrentCUDAStream();
        const scalar_t* gp_data = gp.defined() ? gp.const_data_ptr<scalar_t>() : nullptr;
        apply_attention_backward_rows_kernel<scalar_t>
            <<<rows_shape.grid, rows_shape.threads, 0, stream>>>(
                grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                s.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(), gp_data,
                dx.mutable_data_ptr<scalar_t>(),
                dc_rows.mutable_data_ptr<at::opmath_type<scalar_t>>(), ab, clip);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        const auto positions_kernel = gp_data
            ? apply_attention_backward_positions_kernel<scalar_t, true>
            : apply_attention_backward_positions_kernel<scalar_t, false>;
        positions_kernel<<<positions_shape.grid, positions_shape.threads, 0, stream>>>(
            grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
            c.const_data_ptr<scalar_t>(), gp_data, ds.mutable_data_ptr<scalar_t>(), ab);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  // dc of a clip: its frames' shares summed in a fixed order, in float.
  return {dx, ds, dc_rows.sum(1).to(c.scalar_type())};
}

at::Tensor apply_attention_channel_grad_cuda(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask, int64_t num_frames) {
  const char* op = "cosam::apply_attention_channel_grad";
  const auto ab = check_masked_clips(x_in, spatial_mask, num_frames, op);
  const auto device_guard = guard_device_of(x_in);
  check_dtype(x_in, "x", "CUDA");
  check_grad(grad_in, x_in, x_in.sizes(), op);
  const auto x = x_in.contiguous(), grad = grad_in.contiguous();
  const auto s = spatial_mask.contiguous();
  if (x.numel() == 0) return at::zeros({ab.clips, ab.channels}, x.options());
  const auto rows_shape = apply_attention_rows_launch(ab);
  auto dc_rows = at::empty(
      {ab.clips, ab.frames, ab.channels},
      x.options().dtype(at::toOpMathType(x.scalar_type())));
  const auto clip = clip_of(ab, op);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(),
      "cosam_apply_attention_channel_grad_cuda", [&] {
        // The backward's rows kernel, writing no dx.
        apply_attention_backward_rows_kernel<scalar_t>
            <<<rows_shape.grid, rows_shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                s.const_data_ptr<scalar_t>(), nullptr, nullptr, nullptr,
                dc_rows.mutable_data_ptr<at::opmath_type<scalar_t>>(), ab, clip);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return dc_rows.sum(1).to(x.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("apply_attention", &apply_attention_cuda);
  m.impl("apply_attention_backward", &apply_attention_backward_cuda);
  m.impl("apply_attention_channel_grad", &apply_attention_channel_grad_cuda);
}

}  // namespace cosam::cuda
