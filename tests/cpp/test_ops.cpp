// C++ tests of the standalone op library (ctest): the cosam ops called
// through the dispatcher, as a C++ user of libcosam_ops calls them, against
// naive loops over their definitions (docs/design.md, "What the layer computes"), and
// each backward op against central differences of its forward op.
//
//   cosam_ops_test <case>    one of ncc_cost_volume, ncc_summary, apply_attention
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>

namespace {

constexpr double kEps = 1e-4;
// Odd sizes, H != W.
constexpr int64_t kClips = 2, kFrames = 3, kChannels = 5, kHeight = 3,
                  kWidth = 2, kOutChannels = 4;
constexpr int64_t kRows = kClips * kFrames, kPositions = kHeight * kWidth,
                  kSlots = kFrames - 1;

using Tensor = at::Tensor;
using Grads = std::tuple<Tensor, Tensor, Tensor>;

// Looked up when a test runs, not at static initialisation.
template <class Signature>
c10::TypedOperatorHandle<Signature> op(const char* name) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(name, "")
      .typed<Signature>();
}

Tensor random(at::IntArrayRef sizes) { return at::randn(sizes, at::kDouble); }

// x (rows, D, H, W) normalised over the channels at each position, as
// (rows, D, P): (x - mean) / (unbiased std + eps).
Tensor naive_normalise(const Tensor& x) {
  const auto in = x.reshape({kRows, kChannels, kPositions});
  auto z = at::empty_like(in);
  const auto a = in.accessor<double, 3>();
  auto out = z.accessor<double, 3>();
  for (int64_t t = 0; t < kRows; ++t) {
    for (int64_t p = 0; p < kPositions; ++p) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < kChannels; ++c) mean += a[t][c][p] / kChannels;
      for (int64_t c = 0; c < kChannels; ++c) {
        var += (a[t][c][p] - mean) * (a[t][c][p] - mean) / (kChannels - 1);
      }
      for (int64_t c = 0; c < kChannels; ++c) {
        out[t][c][p] = (a[t][c][p] - mean) / (std::sqrt(var) + kEps);
      }
    }
  }
  return z;
}

// The row of the frame in slot s of row t: the other frames of its clip in
// ascending order, skipping itself.
int64_t other_row(int64_t t, int64_t s) {
  const int64_t n = t % kFrames;
  return t - n + (s < n ? s : s + 1);
}

// Channel s*P + q, position p of row t: the correlation of position p of
// frame t with position q of the frame in slot s.
Tensor naive_cost_volume(const Tensor& x) {
  const auto z_tensor = naive_normalise(x);
  const auto z = z_tensor.accessor<double, 3>();
  auto volume = at::zeros({kRows, kSlots * kPositions, kPositions}, at::kDouble);
  auto v = volume.accessor<double, 3>();
  for (int64_t t = 0; t < kRows; ++t)
    for (int64_t s = 0; s < kSlots; ++s)
      for (int64_t q = 0; q < kPositions; ++q)
        for (int64_t p = 0; p < kPositions; ++p)
          for (int64_t c = 0; c < kChannels; ++c)
            v[t][s * kPositions + q][p] +=
                z[other_row(t, s)][c][q] * z[t][c][p] / kChannels;
  return volume.view({kRows, kSlots * kPositions, kHeight, kWidth});
}

// conv1x1 of the cost volume: weight (K, (N-1)*P), bias (K).
Tensor naive_summary(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const auto volume_tensor = naive_cost_volume(x).view({kRows, -1, kPositions});
  const auto v = volume_tensor.accessor<double, 3>();
  const auto w = weight.accessor<double, 2>();
  const auto b = bias.accessor<double, 1>();
  auto out = at::empty({kRows, kOutChannels, kPositions}, at::kDouble);
  auto o = out.accessor<double, 3>();
  for (int64_t t = 0; t < kRows; ++t)
    for (int64_t k = 0; k < kOutChannels; ++k)
      for (int64_t p = 0; p < kPositions; ++p) {
        o[t][k][p] = b[k];
        for (int64_t j = 0; j < kSlots * kPositions; ++j) o[t][k][p] += w[k][j] * v[t][j][p];
      }
  return out.view({kRows, kOutChannels, kHeight, kWidth});
}

// x * spatial_mask * (1 + channel_mask of the clip).
Tensor naive_attention(const Tensor& x, const Tensor& spatial, const Tensor& channel) {
  auto out = at::empty_like(x);
  const auto a = x.accessor<double, 4>();
  const auto m = spatial.accessor<double, 4>();
  const auto c = channel.accessor<double, 2>();
  auto o = out.accessor<double, 4>();
  for (int64_t t = 0; t < kRows; ++t)
    for (int64_t d = 0; d < kChannels; ++d)
      for (int64_t h = 0; h < kHeight; ++h)
        for (int64_t w = 0; w < kWidth; ++w)
          o[t][d][h][w] = a[t][d][h][w] * m[t][0][h][w] * (1 + c[t / kFrames][d]);
  return out;
}

bool check_close(const std::string& what, const Tensor& actual,
                 const Tensor& expected, double rtol) {
  if (actual.sizes() != expected.sizes()) {
    std::fprintf(stderr, "FAIL %s: shape %s, expected %s\n", what.c_str(),
                 c10::str(actual.sizes()).c_str(),
                 c10::str(expected.sizes()).c_str());
    return false;
  }
  const double error = (actual.to(at::kDouble) - expected).abs().max().item<double>();
  const double tolerance = rtol * (1 + expected.abs().max().item<double>());
  const bool ok = error <= tolerance;
  std::printf("%s %s: max error %.3g (tolerance %.3g)\n", ok ? "ok  " : "FAIL",
              what.c_str(), error, tolerance);
  return ok;
}

// The backward op's gradient for one input against central differences of
// the forward op along a random direction: <grad, v> == d/dh <g, f(in + h v)>.
bool check_gradient(const std::string& what,
                    const std::function<Tensor(const Tensor&)>& forward,
                    const Tensor& input, const Tensor& g, const Tensor& grad) {
  const auto v = at::randn_like(input);
  const double h = 1e-6;
  const auto difference = (forward(input + h * v) - forward(input - h * v)) / (2 * h);
  return check_close(what, (grad * v).sum(), (g * difference).sum(), 1e-6);
}

bool test_ncc_cost_volume() {
  const auto cost_volume =
      op<Tensor(const Tensor&, int64_t, double)>("cosam::ncc_cost_volume");
  const auto cost_volume_backward =
      op<Tensor(const Tensor&, const Tensor&, int64_t, double)>(
          "cosam::ncc_cost_volume_backward");
  const auto x = random({kRows, kChannels, kHeight, kWidth});
  const auto expected = naive_cost_volume(x);
  bool ok = check_close("float64", cost_volume.call(x, kFrames, kEps), expected, 1e-10);
  ok &= check_close("float32", cost_volume.call(x.to(at::kFloat), kFrames, kEps), expected, 1e-5);
  const auto g = at::randn_like(expected);
  const auto forward = [&](const Tensor& in) { return cost_volume.call(in, kFrames, kEps); };
  return check_gradient("backward: x", forward, x, g,
                        cost_volume_backward.call(g, x, kFrames, kEps)) && ok;
}

bool test_ncc_summary() {
  using Summary = std::tuple<Tensor, Tensor>;
  const auto summary_op =
      op<Summary(const Tensor&, const Tensor&, const std::optional<Tensor>&,
                 int64_t, double)>("cosam::ncc_summary");
  const auto summary_backward =
      op<Grads(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
               int64_t, double)>("cosam::ncc_summary_backward");
  // The logits; the other output, v, is what the backward reuses.
  const auto summary = [&](const Tensor& x, const Tensor& weight,
                           const std::optional<Tensor>& bias) {
    return std::get<0>(summary_op.call(x, weight, bias, kFrames, kEps));
  };
  const auto x = random({kRows, kChannels, kHeight, kWidth});
  const auto weight = random({kOutChannels, kSlots * kPositions});
  const auto bias = random({kOutChannels});
  const auto expected = naive_summary(x, weight, bias);
  bool ok = check_close("float64", summary(x, weight, bias), expected, 1e-10);
  ok &= check_close(
      "float32",
      summary(x.to(at::kFloat), weight.to(at::kFloat), bias.to(at::kFloat)),
      expected, 1e-5);
  ok &= check_close("no bias", summary(x, weight, std::nullopt),
                    naive_summary(x, weight, at::zeros_like(bias)), 1e-10);
  const auto g = at::randn_like(expected);
  const auto v = std::get<1>(summary_op.call(x, weight, bias, kFrames, kEps));
  const auto [grad_x, grad_weight, grad_bias] =
      summary_backward.call(g, x, v, weight, kFrames, kEps);
  ok &= check_gradient("backward: x", [&](const Tensor& in) { return summary(in, weight, bias); },
                       x, g, grad_x);
  ok &= check_gradient("backward: weight", [&](const Tensor& in) { return summary(x, in, bias); },
                       weight, g, grad_weight);
  return check_gradient("backward: bias", [&](const Tensor& in) { return summary(x, weight, in); },
                        bias, g, grad_bias) && ok;
}

bool test_apply_attention() {
  const auto attention =
      op<Tensor(const Tensor&, const Tensor&, const Tensor&, int64_t)>(
          "cosam::apply_attention");
  const auto attention_backward =
      op<Grads(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
               int64_t, const std::optional<Tensor>&)>("cosam::apply_attention_backward");
  const auto x = random({kRows, kChannels, kHeight, kWidth});
  const auto spatial = random({kRows, 1, kHeight, kWidth});
  const auto channel = random({kClips, kChannels});
  const auto expected = naive_attention(x, spatial, channel);
  bool ok = check_close("float64", attention.call(x, spatial, channel, kFrames), expected, 1e-12);
  ok &= check_close(
      "float32",
      attention.call(x.to(at::kFloat), spatial.to(at::kFloat), channel.to(at::kFloat), kFrames),
      expected, 1e-6);
  const auto g = at::randn_like(expected);
  const auto [grad_x, grad_spatial, grad_channel] =
      attention_backward.call(g, x, spatial, channel, kFrames, std::nullopt);
  ok &= check_gradient("backward: x", [&](const Tensor& in) { return attention.call(in, spatial, channel, kFrames); },
                       x, g, grad_x);
  ok &= check_gradient("backward: spatial_mask",
                       [&](const Tensor& in) { return attention.call(x, in, channel, kFrames); },
                       spatial, g, grad_spatial);
  return check_gradient("backward: channel_mask",
                        [&](const Tensor& in) { return attention.call(x, spatial, in, kFrames); },
                        channel, g, grad_channel) && ok;
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<bool()>> cases = {
      {"ncc_cost_volume", test_ncc_cost_volume},
      {"ncc_summary", test_ncc_summary},
      {"apply_attention", test_apply_attention},
  };
  const auto found = argc == 2 ? cases.find(argv[1]) : cases.end();
  if (found == cases.end()) {
    std::fprintf(stderr, "usage: %s ncc_cost_volume|ncc_summary|apply_attention\n", argv[0]);
    return 2;
  }
  at::manual_seed(0);
  return found->second() ? 0 : 1;
}
