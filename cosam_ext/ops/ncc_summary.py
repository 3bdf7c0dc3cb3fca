"""cosam::ncc_summary: the summary conv over the NCC cost volume, computed
without the volume (kernels in csrc/<backend>/ncc_summary.*, the algebra in
csrc/ncc_algebra.h), its backward, and the choice of contraction order."""
import torch
import torch.nn.functional as F

from .autocast import cast_inputs
from .checks import check_frames, check_summary_weight
from .ncc import DEFAULT_EPS, normalise
from .ncc_cost_volume import ncc_cost_volume
from .tracing import exporting_to_onnx, fx_leaf

__all__ = ["ncc_summary", "composition", "MATERIALISE_BELOW", "materialising_is_cheaper"]

OP = "cosam::ncc_summary"

#: On the CPU, ncc_summary materialises the cost volume where that order
#: needs fewer than this fraction of the fused order's FLOPs (tiny maps).
#: Measured on a 2-core CPU, forward+backward: at FLOP ratio 0.69 (8x4 maps,
#: N = 8, D = 256, K = 64) materialising took 0.78x the fused time, at 0.40
#: (16x8, N = 4) it took 1.7x.
MATERIALISE_BELOW = 1 / 0.55


def materialising_is_cheaper(x, out_channels, num_frames):
    """Whether conv1x1 over the materialised volume beats the fused order for
    x (B*N, D, H, W) on its device: per frame, the fused order costs about
    3 K P D multiply-adds, the materialised one (N-1) P^2 (D + K). The batch
    size does not enter: a graph traced with a dynamic batch keeps one order."""
    if x.device.type != "cpu" or x.dim() != 4:
        return False
    channels, positions = x.shape[1], x.shape[2] * x.shape[3]
    fused = 3 * out_channels * positions * channels
    materialised = (num_frames - 1) * positions**2 * (channels + out_channels)
    return materialised < fused * MATERIALISE_BELOW


@fx_leaf
def ncc_summary(x, weight, bias, num_frames, eps=DEFAULT_EPS):
    """conv1x1(ncc_cost_volume(x, num_frames, eps), weight, bias), computed
    without the cost volume (torch.ops.cosam.ncc_summary), or, on the CPU at
    tiny maps where that is cheaper (`materialising_is_cheaper`), through the
    compiled cost volume.

    weight: (K, (N-1)*H*W) or (K, (N-1)*H*W, 1, 1); bias: (K,) or None.
    Returns (B*N, K, H, W).
    """
    if weight.dim() >= 1 and materialising_is_cheaper(x, weight.shape[0], num_frames):
        if not (torch.compiler.is_compiling() or torch.jit.is_tracing()):
            # Bad input is reported as on the fused order, which is not called
            # here. (A traced graph has no use for the checks, and the tracers
            # cannot follow them: TorchScript sees sizes as tensors.)
            check_frames(x, num_frames, eps, OP)
            check_summary_weight(x, weight, bias, num_frames, OP)
        # In the dtypes the op's autocast rule gives, not those of conv2d's.
        x, weight, bias = cast_inputs("ncc_summary", x.device.type, x, weight, bias)
        with torch.autocast(x.device.type, enabled=False):
            volume = ncc_cost_volume(x, num_frames, eps)
            return F.conv2d(volume, weight.reshape(weight.shape[0], -1, 1, 1), bias)
    if exporting_to_onnx():
        return composition(x, weight, bias, num_frames, eps)[0]
    return torch.ops.cosam.ncc_summary(x, weight, bias, num_frames, eps)[0]


def _other_frame_sums(num_frames, dtype, device):
    """(N, 2N) matrix S with V_n = sum_m S[n, m] hi_m + S[n, N + m] lo_m: the
    frames after n contribute their hi products, those before their lo ones."""
    ones = torch.ones(num_frames, num_frames, dtype=dtype, device=device)
    return torch.cat([ones.triu(1), ones.tril(-1)], dim=1)


def composition(x, weight, bias, num_frames, eps):
    """(logits (B*N, K, H, W), slot sums v (N*B, D, K)), as the compiled op,
    in standard ops and the same contraction order, for export: the (N-1)*H*W
    channel cost volume never exists.

    With Z_m the normalised frame m (D, P) and W_s the weight of slot s
    (K, P): frame m is slot m-1 of the frames after it and slot m of those
    before it, so hi_m = Z_m W_{m-1}^T and lo_m = Z_m W_m^T cover all its
    uses; V_n = sum_{m>n} hi_m + sum_{m<n} lo_m and L_n = V_n^T Z_n / D + b.
    """
    total, channels, height, width = x.shape
    positions, out_channels = height * width, weight.shape[0]
    # (N, B, D, P): frame n of every clip together.
    z = normalise(x.reshape(-1, num_frames, channels, positions), 2, eps).transpose(0, 1)
    slot_weights = weight.reshape(out_channels, num_frames - 1, positions).transpose(0, 1)
    none = slot_weights.new_zeros(1, out_channels, positions)
    # Frame m's [W_{m-1} | W_m], (N, P, 2K); zeros where the slot does not exist.
    pair_weights = torch.cat(
        [torch.cat([none, slot_weights]), torch.cat([slot_weights, none])], dim=1
    ).transpose(1, 2)
    pairs = torch.matmul(z, pair_weights[:, None])  # (N, B, D, 2K)
    hi, lo = pairs.split(out_channels, dim=3)
    stacked = torch.cat([hi, lo]).flatten(1)  # (2N, B*D*K)
    sums = _other_frame_sums(num_frames, x.dtype, x.device) @ stacked
    v = sums.reshape(num_frames, -1, channels, out_channels) / channels  # (N, B, D, K)
    logits = torch.matmul(v.transpose(2, 3), z)  # (N, B, K, P)
    if bias is not None:
        logits = logits + bias[:, None]
    logits = logits.transpose(0, 1).reshape(total, out_channels, height, width)
    return logits, v.reshape(-1, channels, out_channels)


@torch.library.register_fake(OP)
def _fake(x, weight, bias, num_frames, eps):
    check_frames(x, num_frames, eps, OP)
    check_summary_weight(x, weight, bias, num_frames, OP)
    total, channels, height, width = x.shape
    out_channels = weight.shape[0]
    return x.new_empty((total, out_channels, height, width)), x.new_empty((total, channels, out_channels))


@torch.library.register_fake("cosam::ncc_summary_backward")
def _backward_fake(grad, x, v, weight, num_frames, eps):
    check_frames(x, num_frames, eps, "cosam::ncc_summary_backward")
    return x.new_empty(x.shape), weight.new_empty(weight.shape), weight.new_empty(weight.shape[0])


def _setup_context(ctx, inputs, output):
    x, weight, bias, num_frames, eps = inputs
    _, v = output
    # Only the logits are differentiable: v is the forward's slot sums, (N*B,
    # D, K), K/P of x's size, kept for this backward, which recomputes the
    # normalisation (one pass over x instead of a saved copy).
    ctx.mark_non_differentiable(v)
    # No zeros made for v's gradient: one launch fewer on CUDA.
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(x, v, weight)
    ctx.num_frames, ctx.eps, ctx.has_bias = num_frames, eps, bias is not None


def _backward(ctx, grad, grad_v):
    if grad is None:  # only v was used, and v is not differentiable
        return None, None, None, None, None
    grad_x, grad_weight, grad_bias = torch.ops.cosam.ncc_summary_backward(
        grad, *ctx.saved_tensors, ctx.num_frames, ctx.eps
    )
    return grad_x, grad_weight, grad_bias if ctx.has_bias else None, None, None


torch.library.register_autograd(OP, _backward, setup_context=_setup_context)
