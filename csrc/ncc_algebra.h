// The device-independent part of the cosam ops: the GEMM algebra that
// skips the cost volume (docs/design.md, "Why the cost volume never has to
// exist"), written once against ATen over the fused elementwise kernels of a
// backend, Kernels<device>.
//
// Frames are kept frame-major inside the ops so that frame n of every clip is
// one contiguous (B*D, P) matrix: each GEMM below is one call per frame or
// one batched call over all frames.
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
  // pairs (N, R, 2K) holds [hi_m | lo_m] per frame m (see
  // for_each_frame_pair) -> v (N, R, K), v[n] = scale * (sum_{m<n} lo_m +
  // sum_{m>n} hi_m). The hi half of frame 0 and the lo half of frame N-1 are
  // never read.
  static at::Tensor slot_sums(const at::Tensor& pairs, double scale);
  // The adjoint of slot_sums -> dpairs (N, R, 2K), with zeros in the halves
  // it does not read.
  static at::Tensor slot_sums_backward(const at::Tensor& dv, double scale);
};

// The ops' inputs are cast once by their autocast rule; the ATen calls inside
// a kernel must then keep that dtype, not be autocast again one by one.
struct NoAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{c10::autocast_dispatch_keyset};
};

// The summary weight as ((N-1)*K, P), slot by slot: row s*K + k is output
// channel k of slot s. Frame m sits in slot m-1 of the earlier frames (hi)
// and in slot m of the later ones (lo), so its two weights are the 2K
// adjacent rows from (m-1)*K: one GEMM per frame gives both products.
inline at::Tensor weight_rows_by_slot(
    const at::Tensor& weight, const FrameBatch& fb) {
  const int64_t K = weight.size(0);
  return weight.reshape({K, fb.frames - 1, fb.positions})
      .transpose(0, 1)
      .contiguous()
      .view({(fb.frames - 1) * K, fb.positions});
}

// Calls fn(m, first, count) for every frame m, where columns [first, first +
// count) of its (R, 2K) pair [hi_m | lo_m] exist: frame 0 has no hi half and
// frame N-1 no lo half. Column c of the pair is weight row (m-1)*K + c.
template <class Fn>
void for_each_frame_pair(int64_t frames, int64_t K, Fn&& fn) {
  for (int64_t m = 0; m < frames; ++m) {
    const int64_t first = m == 0 ? K : 0;
    const int64_t last = m == frames - 1 ? K : 2 * K;
    fn(m, first, last - first);
  }
}

// v[n] = V_n^T / D, (N, B*D, K): V_n^T sums Z_m W_s^T over the frames m in
// the slots s of frame n, from the pairs [hi_m | lo_m] = Z_m [W_{m-1} | W_m]^T.
// Each GEMM writes its slice of one preallocated tensor: on the CPU a loop of
// single GEMMs into place runs at about 1.5x the rate of a bmm over N-1
// batches that allocates its result.
template <c10::DeviceType device>
at::Tensor slot_sums_of(
    const at::Tensor& z, const at::Tensor& w_rows, const FrameBatch& fb) {
  const int64_t K = w_rows.size(0) / (fb.frames - 1);
  const auto z_rows = z.view({fb.frames, fb.clips * fb.channels, fb.positions});
  auto pairs = at::empty({fb.frames, fb.clips * fb.channels, 2 * K}, z.options());
  for_each_frame_pair(fb.frames, K, [&](int64_t m, int64_t first, int64_t count) {
    auto out = pairs[m].narrow(1, first, count);
    at::mm_out(out, z_rows[m], w_rows.narrow(0, (m - 1) * K + first, count).t());
  });
  return Kernels<device>::slot_sums(pairs, 1.0 / fb.channels);
}

// A clip-major (B*N, C, H, W) tensor as frame-major (N*B, C, P), and back:
// the batched GEMMs want frame n of every clip next to each other (one
// strided batch over a clip-major view is many times slower on the CPU).
inline at::Tensor to_frame_major(const at::Tensor& t, const FrameBatch& fb) {
  return t.reshape({fb.clips, fb.frames, t.size(1), fb.positions})
      .transpose(0, 1)
      .contiguous()
      .view({fb.frames * fb.clips, t.size(1), fb.positions});
}

inline at::Tensor to_clip_major(const at::Tensor& t, const FrameBatch& fb) {
  auto out = at::empty(
      {fb.clips * fb.frames, t.size(1), fb.height, fb.width}, t.options());
  out.view({fb.clips, fb.frames, t.size(1), fb.positions})
      .copy_(t.view({fb.frames, fb.clips, t.size(1), fb.positions})
                 .transpose(0, 1));
  return out;
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

  at::Tensor logits, v;  // logits frame-major (N*B, K, P)
  {
    // Z lives in this block only: the clip-major copy of the logits is made
    // without it.
    const auto z =
        std::get<0>(Kernels<device>::normalize(x_in.contiguous(), fb, eps));
    v = slot_sums_of<device>(z, weight_rows_by_slot(weight, fb), fb)
            .view({N * B, D, K});
    // L_n = b1 + V_n Z_n / D (the 1/D is in V).
    const auto z_frames = z.view({N * B, D, P});
    logits = (bias.has_value() && bias->defined())
        ? at::baddbmm(bias->view({1, K, 1}), v.transpose(1, 2), z_frames)
        : at::bmm(v.transpose(1, 2), z_frames);
  }
  return {to_clip_major(logits, fb), v};
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
  at::Tensor dz, grad_weight, grad_bias;
  {
    const auto w_rows = weight_rows_by_slot(weight, fb);
    const auto g = to_frame_major(grad, fb);  // G (N*B, K, P)
    // IntArrayRef spelled out: torch 2.11's Tensor also has sum(DimnameList)
    // (gone by 2.13), which makes a bare {0, 2} ambiguous there.
    grad_bias = g.sum(at::IntArrayRef{0, 2});

    // dV_n^T = Z_n G_n^T / D; its adjoint slot sums give the pairs'
    // gradients [dhi_m | dlo_m].
    const auto dpairs = Kernels<device>::slot_sums_backward(
        at::bmm(z.view({N * B, D, P}), g.transpose(1, 2)).view({N, B * D, K}),
        1.0 / D);

    // dW rows of frame m's pair += dpair_m^T Z_m (summed over the clips:
    // slot s gets dlo_s^T Z_s and dhi_{s+1}^T Z_{s+1}).
    auto dw_rows = at::zeros_like(w_rows);
    for_each_frame_pair(N, K, [&](int64_t m, int64_t first, int64_t count) {
      dw_rows.narrow(0, (m - 1) * K + first, count)
          .addmm_(dpairs[m].narrow(1, first, count).t(), z.view({N, B * D, P})[m]);
    });
    grad_weight = dw_rows.view({N - 1, K, P}).transpose(0, 1).reshape(weight.sizes());
    z = at::Tensor();  // no view of it is left either

    // dZ_n = V_n^T G_n / D (own frame) + dpair_n [W_{n-1} | W_n] (the others).
    dz = at::bmm(v_in.contiguous(), g).view({N, B * D, P});
    for_each_frame_pair(N, K, [&](int64_t m, int64_t first, int64_t count) {
      dz[m].addmm_(
          dpairs[m].narrow(1, first, count),
          w_rows.narrow(0, (m - 1) * K + first, count));
    });
  }
  auto grad_x = Kernels<device>::normalize_backward(dz, x, mean, stdev, fb, eps);
  return {grad_x, grad_weight, grad_bias};
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
