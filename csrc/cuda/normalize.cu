// cosam's normalisation on CUDA: the launchers of kernels/normalize.cuh.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "cuda_kernels.h"
#include "kernels/normalize.cuh"

namespace cosam {

template <>
std::tuple<at::Tensor, at::Tensor, at::Tensor> Kernels<c10::kCUDA>::normalize(
    const at::Tensor& x, const FrameBatch& fb, double eps) {
  check_dtype(x, "x", "CUDA");
  auto z = at::empty({fb.frames, fb.clips, fb.channels, fb.positions},
                     x.options());
  auto mean = at::empty(
      {fb.frames, fb.clips, fb.positions},
      x.options().dtype(at::toOpMathType(x.scalar_type())));
  auto stdev = at::empty_like(mean);
  const auto shape = cuda::normalize_launch(fb);
  if (shape.blocks() == 0) return {z, mean, stdev};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_normalize_cuda", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        cuda::normalize_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0,
               at::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), z.mutable_data_ptr<scalar_t>(),
                mean.mutable_data_ptr<acc_t>(), stdev.mutable_data_ptr<acc_t>(),
                fb, static_cast<acc_t>(eps));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {z, mean, stdev};
}

template <>
at::Tensor Kernels<c10::kCUDA>::normalize_backward(
    const at::Tensor& dz, const at::Tensor& x, const at::Tensor& mean,
    const at::Tensor& stdev, const FrameBatch& fb, double eps) {
  check_dtype(dz, "grad", "CUDA");
  auto dx = at::empty(x.sizes(), x.options());
  const auto shape = cuda::normalize_launch(fb);
  if (shape.blocks() == 0) return dx;
  const auto dz_c = dz.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(),
      "cosam_normalize_backward_cuda", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        cuda::normalize_backward_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0,
               at::cuda::getCurrentCUDAStream()>>>(
                dz_c.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                mean.const_data_ptr<acc_t>(), stdev.const_data_ptr<acc_t>(),
                dx.mutable_data_ptr<scalar_t>(), fb, static_cast<acc_t>(eps));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return dx;
}

}  // namespace cosam
