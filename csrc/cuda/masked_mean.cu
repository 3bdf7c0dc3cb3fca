// cosam::masked_mean on CUDA: the launchers of kernels/masked_mean.cuh.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include "../op_checks.h"
#include "cuda_kernels.h"
#include "kernels/masked_mean.cuh"

namespace cosam::cuda {
namespace {

at::Tensor masked_mean_cuda(const at::Tensor& x_in, const at::Tensor& spatial_mask) {
  const char* op = "cosam::masked_mean";
  check_masked_maps(x_in, spatial_mask, op);
  const auto device_guard = guard_device_of(x_in);
  check_dtype(x_in, "x", "CUDA");
  const auto x = x_in.contiguous(), s = spatial_mask.contiguous();
  const int64_t P = x.size(2) * x.size(3);
  const auto shape = masked_mean_launch(x.size(0), x.size(1), P);
  auto out = at::empty({x.size(0), x.size(1)}, x.options());
  if (shape.blocks() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_masked_mean_cuda", [&] {
        masked_mean_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), s.const_data_ptr<scalar_t>(),
                out.mutable_data_ptr<scalar_t>(), x.size(0), x.size(1), P);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

std::tuple<at::Tensor, at::Tensor> masked_mean_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& x_in,
    const at::Tensor& spatial_mask) {
  const char* op = "cosam::masked_mean_backward";
  check_masked_maps(x_in, spatial_mask, op);
  const auto device_guard = guard_device_of(x_in);
  check_dtype(x_in, "x", "CUDA");
  check_grad(grad_in, x_in, {x_in.size(0), x_in.size(1)}, op);
  const auto x = x_in.contiguous(), s = spatial_mask.contiguous();
  const auto grad = grad_in.contiguous();
  auto dx = at::empty(x.sizes(), x.options());
  auto ds = at::empty(s.sizes(), s.options());
  if (x.numel() == 0) return {dx, ds.zero_()};
  const int64_t P = x.size(2) * x.size(3);
  const auto shape = masked_mean_backward_launch(x.size(0), P);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_masked_mean_backward_cuda", [&] {
        masked_mean_backward_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                s.const_data_ptr<scalar_t>(), dx.mutable_data_ptr<scalar_t>(),
                ds.mutable_data_ptr<scalar_t>(), x.size(1), P);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {dx, ds};
}

}  // namespace

TORCH_LIBRARY_IMPL(cosam, CUDA, m) {
  m.impl("masked_mean", &masked_mean_cuda);
  m.impl("masked_mean_backward", &masked_mean_backward_cuda);
}

}  // namespace cosam::cuda
