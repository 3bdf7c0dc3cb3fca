// Input validation shared by every backend of the cosam ops. Messages name
// the argument and say what was expected, so that a shape mistake in a model
// surfaces as one readable line.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <optional>
#include <utility>

namespace cosam {

// Sizes of a clip-major batch of reduced feature maps (B*N, D, H, W).
struct FrameBatch {
  int64_t clips;      // B
  int64_t frames;     // N
  int64_t channels;   // D
  int64_t height;     // H
  int64_t width;      // W
  int64_t positions;  // P = H * W

  // Input channels of the summary conv: (N - 1) * P.
  int64_t volume_channels() const { return (frames - 1) * positions; }
};

inline FrameBatch check_frames(
    const at::Tensor& x, int64_t num_frames, double eps, const char* op) {
  TORCH_CHECK(x.defined(), op, ": x is undefined");
  TORCH_CHECK(
      x.dim() == 4, op, ": x must be a 4-D tensor (B*N, D, H, W), got a ",
      x.dim(), "-D tensor of shape ", x.sizes());
  TORCH_CHECK(
      at::isFloatingType(x.scalar_type()), op,
      ": x must be a floating-point tensor, got ", x.scalar_type());
  TORCH_CHECK(
      num_frames >= 2, op, ": num_frames must be >= 2 (the NCC compares ",
      "each frame with the others of its clip), got ", num_frames);
  TORCH_CHECK(
      x.size(0) % num_frames == 0, op, ": x.size(0) = ", x.size(0),
      " (B*N) is not divisible by num_frames = ", num_frames);
  TORCH_CHECK(
      x.size(1) >= 2, op, ": x must have at least 2 channels (D) for the ",
      "unbiased std, got ", x.size(1));
  TORCH_CHECK(
      x.size(2) >= 1 && x.size(3) >= 1, op,
      ": x must have a non-empty H x W map, got ", x.size(2), "x", x.size(3));
  TORCH_CHECK(
      std::isfinite(eps) && eps >= 0, op,
      ": eps must be finite and >= 0, got ", eps);
  return FrameBatch{x.size(0) / num_frames, num_frames, x.size(1),
                    x.size(2),           x.size(3),  x.size(2) * x.size(3)};
}

// The dtypes the kernels of every backend are instantiated for (float16 and
// bfloat16 accumulate in float32); what names the argument and backend the
// device ("CPU", "CUDA") in the message.
inline void check_dtype(
    const at::Tensor& t, const char* what, const char* backend) {
  const auto dtype = t.scalar_type();
  TORCH_CHECK(
      dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
          dtype == at::kBFloat16,
      "cosam ops on ", backend,
      " support float32, float64, float16 and bfloat16; ", what, " is ", dtype);
}

// Every tensor argument of an op shares x's dtype and device; name says
// which argument t is.
inline void check_like_x(
    const at::Tensor& t, const at::Tensor& x, const char* name, const char* op) {
  TORCH_CHECK(
      t.scalar_type() == x.scalar_type(), op, ": ", name, " dtype ",
      t.scalar_type(), " does not match x dtype ", x.scalar_type());
  TORCH_CHECK(
      t.device() == x.device(), op, ": ", name, " is on ", t.device(),
      " but x is on ", x.device());
}

// weight: (K, (N-1)*P) or (K, (N-1)*P, 1, 1); bias: (K) or None.
inline int64_t check_summary_weight(
    const at::Tensor& x, const FrameBatch& fb, const at::Tensor& weight,
    const std::optional<at::Tensor>& bias, const char* op) {
  TORCH_CHECK(weight.defined(), op, ": weight is undefined");
  const bool is_conv_weight =
      weight.dim() == 4 && weight.size(2) == 1 && weight.size(3) == 1;
  TORCH_CHECK(
      weight.dim() == 2 || is_conv_weight, op,
      ": weight must have shape (K, (N-1)*H*W) or (K, (N-1)*H*W, 1, 1), ",
      "got ", weight.sizes());
  TORCH_CHECK(
      weight.size(0) >= 1, op, ": weight must have K >= 1 output channels");
  TORCH_CHECK(
      weight.size(1) == fb.volume_channels(), op, ": weight.size(1) must be ",
      "(N-1)*H*W = ", fb.volume_channels(), " for num_frames = ", fb.frames,
      " and a ", fb.height, "x", fb.width, " map, got ", weight.size(1));
  check_like_x(weight, x, "weight", op);
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(
        bias->dim() == 1 && bias->size(0) == weight.size(0), op,
        ": bias must have shape (K) = (", weight.size(0), "), got ",
        bias->sizes());
    check_like_x(*bias, x, "bias", op);
  }
  return weight.size(0);
}

inline void check_grad(
    const at::Tensor& grad, const at::Tensor& x, at::IntArrayRef expected,
    const char* op) {
  TORCH_CHECK(
      grad.sizes() == expected, op, ": grad must have shape ", expected,
      ", got ", grad.sizes());
  check_like_x(grad, x, "grad", op);
}

// Sizes of the attention inputs: x (B*N, C, H, W), spatial_mask
// (B*N, 1, H, W), channel_mask (B, C), all of one dtype and device.
struct AttentionBatch {
  int64_t clips;      // B
  int64_t frames;     // N
  int64_t channels;   // C
  int64_t positions;  // H * W
};

// Checks x (B*N, C, H, W) and its spatial mask (B*N, 1, H, W): shared by
// the ops that weight x's positions by the mask.
inline void check_masked_maps(
    const at::Tensor& x, const at::Tensor& spatial_mask, const char* op) {
  TORCH_CHECK(
      x.dim() == 4, op, ": x must be a 4-D tensor (B*N, C, H, W), got a ",
      x.dim(), "-D tensor of shape ", x.sizes());
  TORCH_CHECK(
      at::isFloatingType(x.scalar_type()), op,
      ": x must be a floating-point tensor, got ", x.scalar_type());
  TORCH_CHECK(
      spatial_mask.dim() == 4 && spatial_mask.size(0) == x.size(0) &&
          spatial_mask.size(1) == 1 && spatial_mask.size(2) == x.size(2) &&
          spatial_mask.size(3) == x.size(3),
      op, ": spatial_mask must have shape (B*N, 1, H, W) = (", x.size(0),
      ", 1, ", x.size(2), ", ", x.size(3), "), got ", spatial_mask.sizes());
  check_like_x(spatial_mask, x, "spatial_mask", op);
}

// x and its spatial mask in clips of num_frames frames.
inline AttentionBatch check_masked_clips(
    const at::Tensor& x, const at::Tensor& spatial_mask, int64_t num_frames, const char* op) {
  check_masked_maps(x, spatial_mask, op);
  TORCH_CHECK(num_frames >= 1, op, ": num_frames must be >= 1, got ", num_frames);
  TORCH_CHECK(
      x.size(0) % num_frames == 0, op, ": x.size(0) = ", x.size(0),
      " (B*N) is not divisible by num_frames = ", num_frames);
  return AttentionBatch{x.size(0) / num_frames, num_frames, x.size(1), x.size(2) * x.size(3)};
}

inline AttentionBatch check_attention(
    const at::Tensor& x, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames, const char* op) {
  const auto ab = check_masked_clips(x, spatial_mask, num_frames, op);
  TORCH_CHECK(
      channel_mask.dim() == 2 && channel_mask.size(0) == ab.clips &&
          channel_mask.size(1) == ab.channels,
      op, ": channel_mask must have shape (B, C) = (", ab.clips, ", ",
      ab.channels, "), got ", channel_mask.sizes());
  check_like_x(channel_mask, x, "channel_mask", op);
  return ab;
}

// The optional gradient of the pooled statistic mean_p(x * spatial_mask),
// (B*N, C), that apply_attention_backward folds into dx and the mask's
// gradient.
inline void check_grad_pooled(
    const std::optional<at::Tensor>& grad_pooled, const at::Tensor& x, const char* op) {
  if (!grad_pooled.has_value() || !grad_pooled->defined()) return;
  TORCH_CHECK(
      grad_pooled->dim() == 2 && grad_pooled->size(0) == x.size(0) &&
          grad_pooled->size(1) == x.size(1),
      op, ": grad_pooled must have shape (B*N, C) = (", x.size(0), ", ",
      x.size(1), "), got ", grad_pooled->sizes());
  check_like_x(*grad_pooled, x, "grad_pooled", op);
}

// The attention ops' inputs as the launchers of every backend take them:
// checked, then made contiguous. backend ("CPU", "CUDA") names the device
// in the dtype check's message; a CUDA launcher sets its device guard
// first. A tensor the op does not take is left undefined.
struct AttentionInputs {
  const char* op;
  AttentionBatch ab;
  at::Tensor x, spatial_mask, channel_mask, grad, grad_pooled;
};

inline AttentionInputs attention_inputs(
    const at::Tensor& x, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames, const char* backend) {
  const char* op = "cosam::apply_attention";
  const auto ab = check_attention(x, spatial_mask, channel_mask, num_frames, op);
  check_dtype(x, "x", backend);
  return {op, ab, x.contiguous(), spatial_mask.contiguous(), channel_mask.contiguous(), {}, {}};
}

inline AttentionInputs attention_backward_inputs(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& spatial_mask,
    const at::Tensor& channel_mask, int64_t num_frames,
    const std::optional<at::Tensor>& grad_pooled, const char* backend) {
  const char* op = "cosam::apply_attention_backward";
  const auto ab = check_attention(x, spatial_mask, channel_mask, num_frames, op);
  check_dtype(x, "x", backend);
  check_grad(grad, x, x.sizes(), op);
  check_grad_pooled(grad_pooled, x, op);
  const bool pooled = grad_pooled.has_value() && grad_pooled->defined();
  return {op, ab, x.contiguous(), spatial_mask.contiguous(), channel_mask.contiguous(),
          grad.contiguous(), pooled ? grad_pooled->contiguous() : at::Tensor()};
}

inline AttentionInputs channel_grad_inputs(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& spatial_mask,
    int64_t num_frames, const char* backend) {
  const char* op = "cosam::apply_attention_channel_grad";
  const auto ab = check_masked_clips(x, spatial_mask, num_frames, op);
  check_dtype(x, "x", backend);
  check_grad(grad, x, x.sizes(), op);
  return {op, ab, x.contiguous(), spatial_mask.contiguous(), {}, grad.contiguous(), {}};
}

}  // namespace cosam
