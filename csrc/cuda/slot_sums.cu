// cosam's slot sums on CUDA: the launchers of kernels/slot_sums.cuh.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "cuda_kernels.h"
#include "kernels/slot_sums.cuh"

namespace cosam {

template <>
at::Tensor Kernels<c10::kCUDA>::slot_sums(const at::Tensor& pairs, double scale) {
  const int64_t N = pairs.size(0), R = pairs.size(2), K = pairs.size(3);
  auto v = at::empty({N, R, K}, pairs.options());
  const auto shape = cuda::slot_sums_launch(R, K);
  if (shape.blocks() == 0) return v;
  const auto pairs_c = pairs.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, pairs.scalar_type(), "cosam_slot_sums_cuda", [&] {
        cuda::slot_sums_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                pairs_c.const_data_ptr<scalar_t>(), v.mutable_data_ptr<scalar_t>(),
                N, R, K, static_cast<at::opmath_type<scalar_t>>(scale));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return v;
}

template <>
at::Tensor Kernels<c10::kCUDA>::slot_sums_backward(
    const at::Tensor& dv, double scale) {
  const int64_t N = dv.size(0), R = dv.size(1), K = dv.size(2);
  auto dpairs = at::empty({N, 2, R, K}, dv.options());
  const auto shape = cuda::slot_sums_launch(R, K);
  if (shape.blocks() == 0) return dpairs;
  const auto dv_c = dv.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, dv.scalar_type(),
      "cosam_slot_sums_backward_cuda", [&] {
        cuda::slot_sums_backward_kernel<scalar_t>
            <<<shape.grid, shape.threads, 0, at::cuda::getCurrentCUDAStream()>>>(
                dv_c.const_data_ptr<scalar_t>(),
                dpairs.mutable_data_ptr<scalar_t>(), N, R, K,
                static_cast<at::opmath_type<scalar_t>>(scale));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return dpairs;
}

}  // namespace cosam
