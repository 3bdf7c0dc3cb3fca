"""How many launches ncc_summary's forward+backward makes on CUDA, counted
on the CPU, where the same algebra (csrc/ncc_algebra.h) runs: each ATen call
that does work is one launch there, and each member of Kernels<device>, one
CUDA kernel, shows in the CPU profile as a "cosam::kernel::" event. The count
must not grow with the clip length N (docs/gpu-performance-model.md)."""
import pytest
import torch

from cosam_ext.ops import ncc_summary

#: Launches of one forward+backward at any N: the forward's normalisation,
#: slot GEMM, slot sums, logits GEMM and bias add on the way to clip-major
#: (5); the backward's normalisation, frame-major copy of the gradient, bias
#: gradient, dV GEMM, slot-sum adjoint, dW GEMM, own-frame dZ GEMM, the two
#: slot dZ GEMMs (hi and lo planes) and the normalisation's backward (10).
LAUNCHES = 15

#: ATen calls that launch work on CUDA (one launch each, counted where no
#: call that encloses them is counted: a CPU baddbmm_ copies inside itself).
LAUNCHING = {
    "aten::copy_", "aten::fill_", "aten::zero_", "aten::add", "aten::add_", "aten::sum", "aten::mul",
    "aten::mul_", "aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm", "aten::baddbmm_",
}
KERNEL_PREFIX = "cosam::kernel::"
#: Calls that launch nothing: allocation, views and autograd's bookkeeping.
#: A call in neither set fails the count, so that new work is not missed.
NOT_LAUNCHING = {
    "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::view", "aten::as_strided",
    "aten::transpose", "aten::reshape", "aten::slice", "aten::select", "aten::narrow", "aten::resolve_conj",
    "aten::detach", "detach", "aten::contiguous", "aten::clone", "aten::expand", "aten::t", "aten::unsqueeze",
    "aten::_unsafe_view", "aten::alias", "aten::permute",
}


def _launches(events):
    """Launches among the profiled events, and the names that are in
    neither set."""
    def counted(event):
        return event.name in LAUNCHING or event.name.startswith(KERNEL_PREFIX)

    def inside_counted(event):
        parent = event.cpu_parent
        while parent is not None:
            if counted(parent):
                return True
            parent = parent.cpu_parent
        return False

    launches = [event.name for event in events if counted(event) and not inside_counted(event)]
    unknown = {
        event.name for event in events
        if not event.cpu_children and not counted(event) and not inside_counted(event)
        and event.name not in NOT_LAUNCHING
    }
    return launches, unknown


def _profile_forward_backward(num_frames, bias=True):
    torch.manual_seed(0)
    clips, channels, height, width, out_channels = 2, 16, 8, 4, 8
    x = torch.randn(clips * num_frames, channels, height, width, requires_grad=True)
    weight = torch.randn(out_channels, (num_frames - 1) * height * width, requires_grad=True)
    bias = torch.randn(out_channels, requires_grad=True) if bias else None
    grad = torch.randn(clips * num_frames, out_channels, height, width)
    with torch.profiler.profile() as profile:
        ncc_summary(x, weight, bias, num_frames).backward(grad)
    return profile.events()


@pytest.mark.parametrize("num_frames", [2, 4, 8, 16])
def test_ncc_summary_launches_do_not_grow_with_the_clip(num_frames):
    launches, unknown = _launches(_profile_forward_backward(num_frames))
    assert not unknown, f"calls neither counted nor known to launch nothing: {sorted(unknown)}"
    assert len(launches) == LAUNCHES, launches


def test_without_bias_the_clip_major_copy_takes_the_bias_add_s_place():
    launches, unknown = _launches(_profile_forward_backward(4, bias=False))
    assert not unknown
    assert "aten::add" not in launches and launches.count("aten::copy_") == 2
    assert len(launches) == LAUNCHES, launches
