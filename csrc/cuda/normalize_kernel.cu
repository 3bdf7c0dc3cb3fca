// Per-position NCC normalisation over the D channels, and its backward. One
// block per frame and tile of kCols adjacent positions: each warp reads one
// channel row of the tile (contiguous in NCHW), the kRows warps stride over
// D, and the per-position sums are combined in shared memory in a fixed
// order, so results are deterministic. Half types accumulate in float and
// keep their statistics (stdev) in float.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <cmath>
#include <limits>

#include "cuda_kernels.h"

namespace cosam::cuda {
namespace {

constexpr int kCols = 32;  // positions per block: one warp per channel row
constexpr int kRows = 8;   // channel rows read at once

// Blocks of the grid: one per frame and tile of kCols positions.
int64_t column_blocks(const FrameBatch& fb) {
  const int64_t blocks =
      fb.clips * fb.frames * ((fb.positions + kCols - 1) / kCols);
  TORCH_CHECK(
      blocks <= std::numeric_limits<int32_t>::max(),
      "cosam ops on CUDA: x has too many frames and positions (",
      fb.clips * fb.frames, " frames of ", fb.positions, " positions)");
  return blocks;
}

// The D values of one (frame, position) that this thread helps reduce:
// offsets of the first one in clip-major x / dx and in frame-major z / dz,
// and of the position's statistics in mean and stdev (N, B, P).
struct Column {
  int64_t clip_major;
  int64_t frame_major;
  int64_t stat;
  bool valid;  // false past the last position of the frame
};

__device__ Column this_column(const FrameBatch& fb) {
  const int64_t tiles = (fb.positions + kCols - 1) / kCols;
  const int64_t frame = blockIdx.x / tiles;  // b*N + n
  const int64_t p = (blockIdx.x % tiles) * kCols + threadIdx.x;
  const int64_t fm = (frame % fb.frames) * fb.clips + frame / fb.frames;
  const int64_t plane = fb.channels * fb.positions;
  return {frame * plane + p, fm * plane + p, fm * fb.positions + p,
          p < fb.positions};
}

// Sum of v over the kRows threads of this thread's column, in a fixed order.
template <typename acc_t>
__device__ acc_t column_sum(acc_t v, acc_t (&partial)[kRows][kCols]) {
  partial[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  acc_t total = 0;
  for (int r = 0; r < kRows; ++r) total += partial[r][threadIdx.x];
  __syncthreads();
  return total;
}

template <typename scalar_t>
__global__ void normalize_kernel(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ z,
    at::opmath_type<scalar_t>* __restrict__ mean_out,
    at::opmath_type<scalar_t>* __restrict__ stdev, FrameBatch fb,
    at::opmath_type<scalar_t> eps) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kRows][kCols];
  const Column col = this_column(fb);
  const int64_t P = fb.positions, D = fb.channels;
  // Threads past the last position read nothing but join the reductions.
  const int64_t rows = col.valid ? D : 0;

  acc_t sum = 0;
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    sum += static_cast<acc_t>(x[col.clip_major + d * P]);
  }
  const acc_t mean = column_sum(sum, partial) / D;
  // Two passes, as torch.std: the sum of squares of centred values.
  acc_t squares = 0;
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    const acc_t c = static_cast<acc_t>(x[col.clip_major + d * P]) - mean;
    squares += c * c;
  }
  const acc_t s = std::sqrt(column_sum(squares, partial) / (D - 1));
  if (!col.valid) return;

  if (threadIdx.y == 0) {
    mean_out[col.stat] = mean;
    stdev[col.stat] = s;
  }
  const acc_t inv = acc_t(1) / (s + eps);
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    z[col.frame_major + d * P] = static_cast<scalar_t>(
        (static_cast<acc_t>(x[col.clip_major + d * P]) - mean) * inv);
  }
}

// With c = x - mean, s = std(c), a = 1/(s + eps), z = c a and
// gz = sum_d dz_d z_d:  dx_d = a (dz_d - mean(dz)) - z_d gz / ((D-1) s),
// the second term defined as 0 at s = 0 (see the CPU kernel). z is
// recomputed from x and the statistics rather than read back.
template <typename scalar_t>
__global__ void normalize_backward_kernel(
    const scalar_t* __restrict__ dz, const scalar_t* __restrict__ x,
    const at::opmath_type<scalar_t>* __restrict__ mean,
    const at::opmath_type<scalar_t>* __restrict__ stdev,
    scalar_t* __restrict__ dx, FrameBatch fb, at::opmath_type<scalar_t> eps) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[kRows][kCols];
  const Column col = this_column(fb);
  const int64_t P = fb.positions, D = fb.channels;
  const int64_t rows = col.valid ? D : 0;
  // Threads past the last position read no statistics.
  const acc_t mu = col.valid ? mean[col.stat] : acc_t(0);
  const acc_t s = col.valid ? stdev[col.stat] : acc_t(0);
  const acc_t inv = acc_t(1) / (s + eps);

  acc_t sum_dz = 0, gz = 0;
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    const acc_t g = static_cast<acc_t>(dz[col.frame_major + d * P]);
    sum_dz += g;
    gz += g * (static_cast<acc_t>(x[col.clip_major + d * P]) - mu) * inv;
  }
  const acc_t mean_dz = column_sum(sum_dz, partial) / D;
  gz = column_sum(gz, partial);
  if (!col.valid) return;

  // z_d coef = (x_d - mean) inv coef: fold inv into the coefficient.
  const acc_t coef = s > 0 ? gz / ((D - 1) * s) * inv : acc_t(0);
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    dx[col.clip_major + d * P] = static_cast<scalar_t>(
        inv * (static_cast<acc_t>(dz[col.frame_major + d * P]) - mean_dz) -
        (static_cast<acc_t>(x[col.clip_major + d * P]) - mu) * coef);
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> CudaKernels::normalize(
    const at::Tensor& x, const FrameBatch& fb, double eps) {
  check_cuda_dtype(x, "x");
  auto z = at::empty({fb.frames, fb.clips, fb.channels, fb.positions},
                     x.options());
  auto mean = at::empty(
      {fb.frames, fb.clips, fb.positions},
      x.options().dtype(at::toOpMathType(x.scalar_type())));
  auto stdev = at::empty_like(mean);
  const int64_t blocks = column_blocks(fb);
  if (blocks == 0) return {z, mean, stdev};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "cosam_normalize_cuda", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        normalize_kernel<scalar_t>
            <<<blocks, dim3(kCols, kRows), 0,
               at::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), z.mutable_data_ptr<scalar_t>(),
                mean.mutable_data_ptr<acc_t>(), stdev.mutable_data_ptr<acc_t>(),
                fb, static_cast<acc_t>(eps));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {z, mean, stdev};
}

at::Tensor CudaKernels::normalize_backward(
    const at::Tensor& dz, const at::Tensor& x, const at::Tensor& mean,
    const at::Tensor& stdev, const FrameBatch& fb, double eps) {
  check_cuda_dtype(dz, "grad");
  auto dx = at::empty(x.sizes(), x.options());
  const int64_t blocks = column_blocks(fb);
  if (blocks == 0) return dx;
  const auto dz_c = dz.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(),
      "cosam_normalize_backward_cuda", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        normalize_backward_kernel<scalar_t>
            <<<blocks, dim3(kCols, kRows), 0,
               at::cuda::getCurrentCUDAStream()>>>(
                dz_c.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                mean.const_data_ptr<acc_t>(), stdev.const_data_ptr<acc_t>(),
                dx.mutable_data_ptr<scalar_t>(), fb, static_cast<acc_t>(eps));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return dx;
}

}  // namespace cosam::cuda
