// The device-independent part of the cosam ops: the GEMM algebra that
// skips the cost volume (docs/design.md, "Why the cost volume never has to
// exist"), written once against ATen over the fused elementwise kernels of a
// backend, Kernels<device>.
//
// Frames are kept frame-major inside the ops so that frame n of every clip is
// one contiguous (B*D, P) matrix: each GEMM of ncc_summary is one batched
// call over all frames or all slots.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/DeviceType.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <tuple>

#include "op_checks.h"

namespace cosam {

// One declaration for every backend, so that their signatures cannot drift
// apart; each backend defines the members of its specialisation in its own
// files (Kernels<c10::kCPU> in cpu/, Kernels<c10::kCUDA> in cuda/).
template <c10::DeviceType device>
struct Kernels {
  // x clip-major (B*N, D, H, W) contiguous -> (z, mean, stdev): z frame-major
  // (N, B, D, P), z = (x - mean_D) / (std_D + eps) with the unbiased std;
  // mean and stdev (N, B, P).
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> normalize(
      const at::Tensor& x, const FrameBatch& fb, double eps);
  // -> dx (clip-major); recomputes z from x and the statistics, so that z
  // need not be kept.
  static at::Tensor normalize_backward(
      const at::Tensor& dz, const at::Tensor& x, const at::Tensor& mean,
      const at::Tensor& stdev, const FrameBatch& fb, double eps);
  // pairs (N, 2, R, K) holds hi_m in plane 2m and lo_m in plane 2m + 1 (see
  // slot_planes) -> v (N, R, K), v[n] = scale * (sum_{m<n} lo_m + sum_{m>n}
  // hi_m). The hi plane of frame 0 and the lo plane of frame N-1 are never
  // read.
  static at::Tensor slot_sums(const at::Tensor& pairs, double scale);
  // The adjoint of slot_sums -> dpairs (N, 2, R, K), with zeros in the
  // planes it does not read.
  static at::Tensor slot_sums_backward(const at::Tensor& dv, double scale);
};

// The ops' inputs are cast once by their autocast rule; the ATen calls inside
// a kernel must then keep that dtype, not be autocast again one by one.
struct NoAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{c10::autocast_dispatch_keyset};
};

// Every GEMM below is one batched call whatever N is, so that the number of
// launches on CUDA does not grow with the clip length (docs/
// gpu-performance-model.md counts them). Slot s of the summary weight meets
// two frames: frame s + 1, where it is the slot of the frame before (hi_{s+1}
// = Z_{s+1} W_s^T), and frame s, where it is the slot of the frame after
// (lo_s = Z_s W_s^T). With hi_m and lo_m in adjacent planes 2m and 2m + 1,
// [lo_s; hi_{s+1}] are planes 2s + 1 and 2s + 2, next to each other, as are
// the frames [Z_s; Z_{s+1}]: slot s is one GEMM of (2R, P) by (P, K), and the
// N - 1 slots one batched call over overlapping views. R = B*D, rows of a
// frame of every clip.

// The summary weight (K, (N-1)*P) or (K, (N-1)*P, 1, 1) as its N - 1 slots
// (N-1, K, P): a view.
inline at::Tensor weight_slots(const at::Tensor& weight, const FrameBatch& fb) {
  return weight.reshape({weight.size(0), fb.frames - 1, fb.positions}).transpose(0, 1);
}

// [t_s; t_{s+1}] for s < N - 1, (N-1, 2R, cols), from planes t (planes, R,
// cols) contiguous, starting at plane first and stepping by step planes:
// overlapping views of t, read by the GEMMs and never written through twice.
inline at::Tensor adjacent_planes(const at::Tensor& t, int64_t first, int64_t step, int64_t count) {
  const int64_t R = t.size(-2), cols = t.size(-1);
  return t.as_strided(
      {count, 2 * R, cols}, {step * R * cols, cols, 1}, t.storage_offset() + first * R * cols);
}

// The (N-1, 2R, K) slot views [lo_s; hi_{s+1}] of pairs (N, 2, R, K).
inline at::Tensor slot_planes(const at::Tensor& pairs) {
  const int64_t N = pairs.size(0);
  return adjacent_planes(pairs.view({2 * N, pairs.size(2), pairs.size(3)}), 1, 2, N - 1);
}

// The (N-1, 2R, P) frame views [Z_s; Z_{s+1}] of z (N, R, P).
inline at::Tensor adjacent_frames(const at::Tensor& z) {
  return adjacent_planes(z, 0, 1, z.size(0) - 1);
}

// Planes h (0: hi, 1: lo) of frames [first, first + N - 1) of pairs (N, 2,
// R, K): (N-1, R, K).
inline at::Tensor frame_planes(const at::Tensor& pairs, int64_t first, int64_t h) {
  return pairs.narrow(0, first, pairs.size(0) - 1).select(1, h);
}

// v[n] = V_n^T / D, (N, B*D, K): V_n^T sums Z_m W_s^T over the frames m in
// the slots s of frame n, from the planes hi_m and lo_m.
template <c10::DeviceType device>
at::Tensor slot_sums_of(
    const at::Tensor& z, const at::Tensor& weight, const FrameBatch& fb) {
  const int64_t K = weight.size(0);
  const auto z_rows = z.view({fb.frames, fb.clips * fb.channels, fb.positions});
  auto pairs = at::empty({fb.frames, 2, fb.clips * fb.channels, K}, z.options());
  auto slots = slot_planes(pairs);
  at::bmm_out(slots, adjacent_frames(z_rows), weight_slots(weight, fb).transpose(1, 2));
  return Kernels<device>::slot_sums(pairs, 1.0 / fb.channels);
}

// A clip-major (B*N, C, H, W) tensor as frame-major (N*B, C, P): the
// batched GEMMs want frame n of every clip next to each other (one strided
// batch over a clip-major view is many times slower on the CPU).
inline at::Tensor to_frame_major(const at::Tensor& t, const FrameBatch& fb) {
  return t.reshape({fb.clips, fb.frames, t.size(1), fb.positions})
      .transpose(0, 1)
      .contiguous()
      .view({fb.frames * fb.clips, t.size(1), fb.positions});
}

// ncc_summary's forward result: the logits (B*N, K, H, W), and the slot sums
// v (N*B, D, K), which its backward reuses instead of forming them again.
using SummaryResult = std::tuple<at::Tensor, at::Tensor>;

template <c10::DeviceType device>
SummaryResult ncc_summary_forward(
    const at::Tensor& x_in, const at::Tensor& weight,
    const std::optional<at::Tensor>& bias, int64_t num_frames, double eps) {
  NoAutocast no_autocast;
  const char* op = "cosam::ncc_summary";
  const auto fb = check_frames(x_in, num_frames, eps, op);
  const int64_t K = check_summary_weight(x_in, fb, weight, bias, op);
  const int64_t B = fb.clips, N = fb.frames, D = fb.channels,
                P = fb.positions;

  auto out = at::empty({B * N, K, fb.height, fb.width}, x_in.options());
  at::Tensor v;
  {
    // Z lives in this block only: the clip-major copy of the logits is made
    // without it.
    const auto z =
        std::get<0>(Kernels<device>::normalize(x_in.contiguous(), fb, eps));
    v = slot_sums_of<device>(z, weight, fb).view({N * B, D, K});
    // L_n = V_n Z_n / D (the 1/D is in V), frame-major, then b1 is added on
    // the way to clip-major: one pass, not a copy of the bias and another of
    // the logits.
    const auto logits = at::bmm(v.transpose(1, 2), z.view({N * B, D, P}));
    auto to = out.view({B, N, K, P}).transpose(0, 1);
    const auto from = logits.view({N, B, K, P});
    if (bias.has_value() && bias->defined()) {
      at::add_out(to, from, bias->view({K, 1}));
    } else {
      to.copy_(from);
    }
  }
  return {out, v};
}

template <c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor, at::Tensor> ncc_summary_backward(
    const at::Tensor& grad, const at::Tensor& x_in, const at::Tensor& v_in,
    const at::Tensor& weight, int64_t num_frames, double eps) {
  NoAutocast no_autocast;
  const char* op = "cosam::ncc_summary_backward";
  const auto fb = check_frames(x_in, num_frames, eps, op);
  const int64_t K = check_summary_weight(x_in, fb, weight, std::nullopt, op);
  const int64_t B = fb.clips, N = fb.frames, D = fb.channels,
                P = fb.positions;
  check_grad(grad, x_in, {B * N, K, fb.height, fb.width}, op);
  TORCH_CHECK(
      v_in.sizes() == at::IntArrayRef({N * B, D, K}), op,
      ": v (the slot sums saved by the forward) must have shape ",
      at::IntArrayRef({N * B, D, K}), ", got ", v_in.sizes());
  check_like_x(v_in, x_in, "v", op);

  // Z is recomputed rather than saved: a map of x's size kept from the
  // forward would double the op's peak memory. V is kept (K/P of x's size).
  // Each temporary is dropped as soon as it is used (Z before dZ exists, the
  // rest before dX does), so that at most two maps of x's size live at once.
  const auto x = x_in.contiguous();
  auto [z, mean, stdev] = Kernels<device>::normalize(x, fb, eps);
  at::Tensor dz, grad_bias;
  // Written slot by slot through its (N-1, K, P) view.
  auto grad_weight = at::empty({K, N - 1, P}, weight.options());
  {
    const auto w_slots = weight_slots(weight, fb);
    const auto g = to_frame_major(grad, fb);  // G (N*B, K, P)
    // IntArrayRef spelled out: torch 2.11's Tensor also has sum(DimnameList)
    // (gone by 2.13), which makes a bare {0, 2} ambiguous there.
    grad_bias = g.sum(at::IntArrayRef{0, 2});

    // dV_n^T = Z_n G_n^T / D; its adjoint slot sums give the planes'
    // gradients dhi_m and dlo_m.
    const auto dpairs = Kernels<device>::slot_sums_backward(
        at::bmm(z.view({N * B, D, P}), g.transpose(1, 2)).view({N, B * D, K}),
        1.0 / D);

    // dW_s = [dlo_s; dhi_{s+1}]^T [Z_s; Z_{s+1}] (summed over the clips).
    auto dw_slots = grad_weight.transpose(0, 1);
    at::bmm_out(
        dw_slots, slot_planes(dpairs).transpose(1, 2),
        adjacent_frames(z.view({N, B * D, P})));
    z = at::Tensor();  // no view of it is left either

    // dZ_n = V_n^T G_n / D (own frame) + dhi_n W_{n-1} + dlo_n W_n (the
    // others): frames 1.. take their hi planes, frames ..N-2 their lo planes.
    dz = at::bmm(v_in.contiguous(), g).view({N, B * D, P});
    dz.narrow(0, 1, N - 1).baddbmm_(frame_planes(dpairs, 1, 0), w_slots);
    dz.narrow(0, 0, N - 1).baddbmm_(frame_planes(dpairs, 0, 1), w_slots);
  }
  auto grad_x = Kernels<device>::normalize_backward(dz, x, mean, stdev, fb, eps);
  return {grad_x, grad_weight.view(weight.sizes()), grad_bias};
}

// Calls fn(n, s, m) for every frame n and slot s, m being the frame in slot s.
template <class Fn>
void for_each_slot(int64_t num_frames, Fn&& fn) {
  for (int64_t n = 0; n < num_frames; ++n) {
    for (int64_t s = 0; s < num_frames - 1; ++s) {
      fn(n, s, s < n ? s : s + 1);
    }
  }
}

template <c10::DeviceType device>
at::Tensor ncc_cost_volume_forward(
    const at::Tensor& x_in, int64_t num_frames, double eps) {
  NoAutocast no_autocast;
  const auto fb = check_frames(x_in, num_frames, eps, "cosam::ncc_cost_volume");
  const int64_t B = fb.clips, N = fb.frames, P = fb.positions;

  const auto x = x_in.contiguous();
  const auto z = std::get<0>(Kernels<device>::normalize(x, fb, eps));
  auto out = at::empty(
      {B * N, fb.volume_channels(), fb.height, fb.width}, x.options());
  // Block (n, s) of every clip: C[q, p] = Z_m[:, q] . Z_n[:, p] / D, written
  // in place (beta = 0 ignores the uninitialised output).
  const auto blocks = out.view({B, N, N - 1, P, P});
  for_each_slot(N, [&](int64_t n, int64_t s, int64_t m) {
    blocks.select(1, n).select(1, s).baddbmm_(
        z[m].transpose(1, 2), z[n], /*beta=*/0, /*alpha=*/1.0 / fb.channels);
  });
  return out;
}

template <c10::DeviceType device>
at::Tensor ncc_cost_volume_backward(
    const at::Tensor& grad_in, const at::Tensor& x_in, int64_t num_frames,
    double eps) {
  NoAutocast no_autocast;
  const char* op = "cosam::ncc_cost_volume_backward";
  const auto fb = check_frames(x_in, num_frames, eps, op);
  const int64_t B = fb.clips, N = fb.frames, P = fb.positions;
  check_grad(
      grad_in, x_in, {B * N, fb.volume_channels(), fb.height, fb.width}, op);

  const auto x = x_in.contiguous();
  auto [z, mean, stdev] = Kernels<device>::normalize(x, fb, eps);
  const auto blocks = grad_in.contiguous().view({B, N, N - 1, P, P});
  auto dz = at::zeros_like(z);
  const double scale = 1.0 / fb.channels;
  for_each_slot(N, [&](int64_t n, int64_t s, int64_t m) {
    const auto g = blocks.select(1, n).select(1, s);  // (B, P_m, P_n)
    dz[n].baddbmm_(z[m], g, 1, scale);
    dz[m].baddbmm_(z[n], g.transpose(1, 2), 1, scale);
  });
  return Kernels<device>::normalize_backward(dz, x, mean, stdev, fb, eps);
}

}  // namespace cosam
