// Device code of the per-position NCC normalisation over the D channels and
// its backward (compiled by nvcc, and as host code by the CPU harness), in
// column tiles (column_tiles.cuh): deterministic. Half types accumulate in
// float and keep their statistics (stdev) in float.
#pragma once

#include <ATen/OpMathType.h>

#include <cmath>

#include "../../op_checks.h"
#include "column_tiles.cuh"

namespace cosam::cuda {

// Both kernels: column tiles over the frames.
inline LaunchShape normalize_launch(const FrameBatch& fb) {
  return column_tile_launch(fb.clips * fb.frames, fb.positions, "cosam ops on CUDA");
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

__device__ inline Column this_column(const FrameBatch& fb) {
  const TilePosition at = tile_position(fb.positions);  // frame b*N + n
  const int64_t fm = (at.frame % fb.frames) * fb.clips + at.frame / fb.frames;
  const int64_t plane = fb.channels * fb.positions;
  return {at.frame * plane + at.position, fm * plane + at.position,
          fm * fb.positions + at.position, at.valid};
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
// recomputed from x and the statistics rather than read back. The mean comes
// rounded to acc_t (float for float32 x): c is centred again with
// shift = mean_d (x_d - mean), as in the CPU kernel, or at a near-constant
// position (s ~ eps << |mean|) its rounding would be a large part of c.
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

  acc_t sum_dz = 0, sum_c = 0, gc = 0;
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    const acc_t g = static_cast<acc_t>(dz[col.frame_major + d * P]);
    const acc_t c = static_cast<acc_t>(x[col.clip_major + d * P]) - mu;
    sum_dz += g;
    sum_c += c;
    gc += g * c;
  }
  sum_dz = column_sum(sum_dz, partial);
  const acc_t shift = column_sum(sum_c, partial) / D;
  gc = column_sum(gc, partial);
  if (!col.valid) return;

  const acc_t mean_dz = sum_dz / D;
  // gz = sum_d dz_d (c_d - shift) a.
  const acc_t gz = (gc - shift * sum_dz) * inv;
  // z_d coef = (c_d - shift) inv coef: fold inv into the coefficient.
  const acc_t coef = s > 0 ? gz / ((D - 1) * s) * inv : acc_t(0);
  for (int64_t d = threadIdx.y; d < rows; d += kRows) {
    dx[col.clip_major + d * P] = static_cast<scalar_t>(
        inv * (static_cast<acc_t>(dz[col.frame_major + d * P]) - mean_dz) -
        ((static_cast<acc_t>(x[col.clip_major + d * P]) - mu) - shift) * coef);
  }
}

}  // namespace cosam::cuda
