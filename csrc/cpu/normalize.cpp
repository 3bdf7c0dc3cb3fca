// Per-position NCC normalisation over the D channels, and its backward, fused
// into one pass per map and parallel over frames and position blocks.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "cpu_kernels.h"

namespace cosam::cpu {
namespace {

// Positions handled together: the inner loops run over a block of adjacent
// positions, contiguous in NCHW, so they vectorise.
constexpr int64_t kBlock = 64;

// Calls fn(frame, p0, len) for every block of positions of every frame.
template <class Fn>
void parallel_over_blocks(const FrameBatch& fb, Fn&& fn) {
  const int64_t blocks = (fb.positions + kBlock - 1) / kBlock;
  const int64_t grain =
      std::max<int64_t>(1, at::internal::GRAIN_SIZE / (fb.channels * kBlock));
  at::parallel_for(
      0, fb.clips * fb.frames * blocks, grain, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t p0 = (item % blocks) * kBlock;
          fn(item / blocks, p0, std::min(kBlock, fb.positions - p0));
        }
      });
}

// Offset of frame `frame` (clip-major index b*N + n) in a frame-major tensor.
int64_t frame_major(const FrameBatch& fb, int64_t frame) {
  return (frame % fb.frames) * fb.clips + frame / fb.frames;
}

// One block of len <= kBlock positions of a frame: xf and zf point at its
// first position of channel 0 (rows P apart), mean_out and stdev at its
// first statistic.
template <typename scalar_t>
COSAM_CPU_CLONES void normalize_block(
    const scalar_t* __restrict__ xf, scalar_t* __restrict__ zf,
    scalar_t* __restrict__ mean_out, scalar_t* __restrict__ stdev, int64_t D,
    int64_t P, int64_t len, double eps) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  acc_t mean[kBlock] = {}, inv[kBlock] = {};
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = 0; j < len; ++j) mean[j] += xf[d * P + j];
  }
  for (int64_t j = 0; j < len; ++j) mean[j] /= D;
  // Two passes, as torch.std: the sum of squares of centred values.
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = 0; j < len; ++j) {
      const acc_t c = xf[d * P + j] - mean[j];
      inv[j] += c * c;
    }
  }
  for (int64_t j = 0; j < len; ++j) {
    const acc_t s = std::sqrt(inv[j] / (D - 1));
    mean_out[j] = static_cast<scalar_t>(mean[j]);
    stdev[j] = static_cast<scalar_t>(s);
    inv[j] = acc_t(1) / (s + eps);
  }
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = 0; j < len; ++j) {
      zf[d * P + j] = static_cast<scalar_t>((xf[d * P + j] - mean[j]) * inv[j]);
    }
  }
}

template <typename scalar_t>
void normalize_impl(
    const scalar_t* x, scalar_t* z, scalar_t* mean_out, scalar_t* stdev,
    const FrameBatch& fb, double eps) {
  const int64_t D = fb.channels, P = fb.positions;
  parallel_over_blocks(fb, [&](int64_t frame, int64_t p0, int64_t len) {
    const int64_t fm = frame_major(fb, frame);
    normalize_block(
        x + frame * D * P + p0, z + fm * D * P + p0, mean_out + fm * P + p0,
        stdev + fm * P + p0, D, P, len, eps);
  });
}

// With c = x - mean, s = std(c), a = 1/(s + eps), z = c a and
// gz = sum_d dz_d z_d:  dx_d = a (dz_d - mean(dz)) - z_d gz / ((D-1) s).
// At s = 0 (all D values equal) z = 0 and the second term is defined as 0,
// the one-sided derivative, where autograd through torch.std gives NaN.
// z is recomputed from x and the statistics rather than read back.
//
// The mean comes rounded to the statistics' dtype (x's here): x - mean then
// carries an offset of ~ulp(mean), the same in all D values, which at a
// near-constant position (s ~ eps << |mean|) is a large part of c. The
// backward measures it, shift = mean_d (x_d - mean), and centres with it:
// the sums are taken against x - mean and corrected (gz - shift sum(dz)), so
// that it costs no second pass over x.
//
// The backward computes in opmath_t (float for float32 maps, so that its
// loops run at the vector unit's full width) and takes each sum over the D
// channels as the backward rows do (cpu_kernels.h): kChannelBlock channels'
// shares summed in opmath_t, then added in acc_t (double for float32).
// x - mean is exact in opmath_t where the correction above matters, at a
// near-constant position (x within a factor 2 of the mean). The forward,
// memory-bound inside the op, gains nothing measurable from it and keeps
// acc_t throughout.
//
// One block of len <= kBlock positions of a frame, pointers as in
// normalize_block (dzf, xf and dxf at channel 0, mean and stdev at the
// block's first statistic).
template <typename scalar_t>
COSAM_CPU_CLONES void normalize_backward_block(
    const scalar_t* __restrict__ dzf, const scalar_t* __restrict__ xf,
    const scalar_t* __restrict__ mean, const scalar_t* __restrict__ stdev,
    scalar_t* __restrict__ dxf, int64_t D, int64_t P, int64_t len, double eps) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  using opmath_t = at::opmath_type<scalar_t>;
  acc_t sum_dz[kBlock] = {}, sum_c[kBlock] = {}, gc[kBlock] = {};
  opmath_t mu[kBlock], part_dz[kBlock], part_c[kBlock], part_gc[kBlock],
      inv[kBlock], mean_dz[kBlock], shift[kBlock], coef[kBlock];
  for (int64_t j = 0; j < len; ++j) mu[j] = static_cast<opmath_t>(mean[j]);
  for_each_channel_block(
      D,
      [&] {
        std::fill_n(part_dz, len, opmath_t(0));
        std::fill_n(part_c, len, opmath_t(0));
        std::fill_n(part_gc, len, opmath_t(0));
      },
      [&](int64_t d) {
        for (int64_t j = 0; j < len; ++j) {
          const opmath_t g = dzf[d * P + j];
          const opmath_t c = static_cast<opmath_t>(xf[d * P + j]) - mu[j];
          part_dz[j] += g;
          part_c[j] += c;
          part_gc[j] += g * c;
        }
      },
      [&] {
        for (int64_t j = 0; j < len; ++j) {
          sum_dz[j] += part_dz[j];
          sum_c[j] += part_c[j];
          gc[j] += part_gc[j];
        }
      });
  for (int64_t j = 0; j < len; ++j) {
    const acc_t s = stdev[j], a = acc_t(1) / (s + eps);
    const acc_t centre = sum_c[j] / D;
    // gz = sum_d dz_d (c_d - shift) a.
    const acc_t gz = (gc[j] - centre * sum_dz[j]) * a;
    inv[j] = static_cast<opmath_t>(a);
    mean_dz[j] = static_cast<opmath_t>(sum_dz[j] / D);
    shift[j] = static_cast<opmath_t>(centre);
    // z_d coef = (c_d - shift) a coef: fold a into the coefficient.
    coef[j] = static_cast<opmath_t>(s > 0 ? gz / ((D - 1) * s) * a : acc_t(0));
  }
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = 0; j < len; ++j) {
      dxf[d * P + j] = static_cast<scalar_t>(
          inv[j] * (static_cast<opmath_t>(dzf[d * P + j]) - mean_dz[j]) -
          ((static_cast<opmath_t>(xf[d * P + j]) - mu[j]) - shift[j]) * coef[j]);
    }
  }
}

template <typename scalar_t>
void normalize_backward_impl(
    const scalar_t* dz, const scalar_t* x, const scalar_t* mean,
    const scalar_t* stdev, scalar_t* dx, const FrameBatch& fb, double eps) {
  const int64_t D = fb.channels, P = fb.positions;
  parallel_over_blocks(fb, [&](int64_t frame, int64_t p0, int64_t len) {
    const int64_t fm = frame_major(fb, frame);
    normalize_backward_block(
        dz + fm * D * P + p0, x + frame * D * P + p0, mean + fm * P + p0,
        stdev + fm * P + p0, dx + frame * D * P + p0, D, P, len, eps);
  });
}

}  // namespace
}  // namespace cosam::cpu

namespace cosam {

template <>
std::tuple<at::Tensor, at::Tensor, at::Tensor> Kernels<c10::kCPU>::normalize(
    const at::Tensor& x, const FrameBatch& fb, double eps) {
  COSAM_CPU_KERNEL_EVENT("normalize");
  check_dtype(x, "x", "CPU");
  auto z = at::empty({fb.frames, fb.clips, fb.channels, fb.positions},
                     x.options());
  auto mean = at::empty({fb.frames, fb.clips, fb.positions}, x.options());
  auto stdev = at::empty_like(mean);
  COSAM_DISPATCH_CPU_TYPES(x.scalar_type(), "cosam_normalize_cpu", [&] {
    cpu::normalize_impl<scalar_t>(
        x.const_data_ptr<scalar_t>(), z.mutable_data_ptr<scalar_t>(),
        mean.mutable_data_ptr<scalar_t>(), stdev.mutable_data_ptr<scalar_t>(),
        fb, eps);
  });
  return {z, mean, stdev};
}

template <>
at::Tensor Kernels<c10::kCPU>::normalize_backward(
    const at::Tensor& dz, const at::Tensor& x, const at::Tensor& mean,
    const at::Tensor& stdev, const FrameBatch& fb, double eps) {
  COSAM_CPU_KERNEL_EVENT("normalize_backward");
  check_dtype(dz, "grad", "CPU");
  auto dx = at::empty(x.sizes(), x.options());
  const auto dz_c = dz.contiguous();
  COSAM_DISPATCH_CPU_TYPES(x.scalar_type(), "cosam_normalize_backward_cpu", [&] {
    cpu::normalize_backward_impl<scalar_t>(
        dz_c.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
        mean.const_data_ptr<scalar_t>(), stdev.const_data_ptr<scalar_t>(),
        dx.mutable_data_ptr<scalar_t>(), fb, eps);
  });
  return dx;
}

}  // namespace cosam
