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
    const at::Tensor& x, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames) {
  const auto device_guard = guard_device_of(x);
  const auto in = attention_inputs(x, spatial_mask, channel_mask, num_frames, "CUDA");
  auto out = at::empty(in.x.sizes(), in.x.options());
  const auto shape = apply_attention_rows_launch(in.ab);
  if (in.x.numel() == 0) return out;
  const auto clip = clip_of(in.ab, in.op);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, in.x.scalar_type(), "cosam_apply_attention_cuda", [&] {
        apply_attention_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                in.x.const_data_ptr<scalar_t>(), in.spatial_mask.const_data_ptr<scalar_t>(),
                in.channel_mask.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
                in.ab, clip);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

// Per (clip, frame, channel) shares of the channel mask's gradient, in float,
// for the rows kernel to write and its launcher to sum over the frames.
at::Tensor dc_rows_for(const AttentionInputs& in) {
  return at::empty(
      {in.ab.clips, in.ab.frames, in.ab.channels},
      in.x.options().dtype(at::toOpMathType(in.x.scalar_type())));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> apply_attention_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x,
    const at::Tensor& spatial_mask, const at::Tensor& channel_mask,
    int64_t num_frames, const std::optional<at::Tensor>& grad_pooled) {
  const auto device_guard = guard_device_of(x);
  const auto in = attention_backward_inputs(
      grad, x, spatial_mask, channel_mask, num_frames, grad_pooled, "CUDA");
  const auto& c = in.channel_mask;
  auto dx = at::empty(in.x.sizes(), in.x.options());
  auto ds = at::empty(in.spatial_mask.sizes(), in.spatial_mask.options());
  const auto rows_shape = apply_attention_rows_launch(in.ab);
  const auto positions_shape = apply_attention_backward_positions_launch(in.ab);
  auto dc_rows = dc_rows_for(in);
  if (in.x.numel() == 0) {
    return {dx, ds.zero_(), at::zeros_like(c)};
  }
  const auto clip = clip_of(in.ab, in.op);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, in.x.scalar_type(),
      "cosam_apply_attention_backward_cuda", [&] {
        const auto stream = at::cuda::getCurrentCUDAStream();
        const scalar_t* gp_data =
            in.grad_pooled.defined() ? in.grad_pooled.const_data_ptr<scalar_t>() : nullptr;
        apply_attention_backward_rows_kernel<scalar_t>
            <<<rows_shape.grid, rows_shape.threads, 0, stream>>>(
                in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(),
                in.spatial_mask.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(), gp_data,
                dx.mutable_data_ptr<scalar_t>(),
                dc_rows.mutable_data_ptr<at::opmath_type<scalar_t>>(), in.ab, clip);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        const auto positions_kernel = gp_data
            ? apply_attention_backward_positions_kernel<scalar_t, true>
            : apply_attention_backward_positions_kernel<scalar_t, false>;
        positions_kernel<<<positions_shape.grid, positions_shape.threads, 0, stream>>>(
            in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(),
            c.const_data_ptr<scalar_t>(), gp_data, ds.mutable_data_ptr<scalar_t>(), in.ab);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  // dc of a clip: its frames' shares summed in a fixed order, in float.
  return {dx, ds, dc_rows.sum(1).to(c.scalar_type())};
}

at::Tensor apply_attention_channel_grad_cuda(
    const at::Tensor& grad, const at::Tensor& x,
    const at::Tensor& spatial_mask, int64_t num_frames) {
  const auto device_guard = guard_device_of(x);
  const auto in = channel_grad_inputs(grad, x, spatial_mask, num_frames, "CUDA");
  if (in.x.numel() == 0) return at::zeros({in.ab.clips, in.ab.channels}, in.x.options());
  const auto rows_shape = apply_attention_rows_launch(in.ab);
  auto dc_rows = dc_rows_for(in);
  const auto clip = clip_of(in.ab, in.op);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, in.x.scalar_type(),
      "cosam_apply_attention_channel_grad_cuda", [&] {
        // The backward's rows kernel, writing no dx.
        apply_attention_backward_rows_kernel<scalar_t>
            <<<rows_shape.grid, rows_shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(),
                in.spatial_mask.const_data_ptr<scalar_t>(), nullptr, nullptr, nullptr,
                dc_rows.mutable_data_ptr<at::opmath_type<scalar_t>>(), in.ab, clip);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return dc_rows.sum(1).to(in.x.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("apply_attention", &apply_attention_cuda);
  m.impl("apply_attention_backward", &apply_attention_backward_cuda);
  m.impl("apply_attention_channel_grad", &apply_attention_channel_grad_cuda);
}

}  // namespace cosam::cuda
