"""Peak memory of one measured call (a spec: see `prepare`), beyond what was
allocated before it: the inputs are not counted, the outputs and gradients
are.

CUDA: torch.cuda.max_memory_allocated after a reset. CPU: the peak of the
bytes ATen's CPU allocator holds, from the allocation events of the torch
profiler (each carries its size; the running sum is the live total). This
sees every tensor the call allocates, however it is made, and is not blurred
by what glibc keeps after a free, as a peak RSS is (for ncc_summary
forward+backward at COSAM_2, B=8, N=4 the peak RSS grew by 75 MiB where at
most 53 MiB were live). Allocations outside ATen (BLAS packing buffers) are
not counted.
"""
import torch
from torch._C._profiler import _EventType

import cases


def prepare(spec, device):
    """Inputs for one call, and the call itself (nothing run yet)."""
    if spec["kind"] == "op":
        case = cases.OpCase(**spec["case"])
        inputs = cases.make_op_inputs(case, spec["op"], spec["pass"], device, spec.get("dtype", "float32"))
        return lambda: cases.run_op(spec["op"], spec["implementation"], case, inputs)
    case = cases.LayerCase(**spec["case"])
    module = cases.make_layer_module(case, spec["part"], device)
    inputs = cases.make_layer_inputs(case, spec["part"], device)
    return lambda: cases.run_layer(module, inputs)


def peak_memory(spec, device):
    """Peak bytes allocated by the call described by spec, beyond its inputs."""
    call = prepare(spec, device)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        call()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    return _peak_of_allocations(prof.profiler.kineto_results.experimental_event_tree())


def _peak_of_allocations(roots):
    """Largest running sum of the CPU allocation events (frees are negative)."""
    events, stack = [], list(roots)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
    live = peak = 0
    for _, size in sorted(events):
        live += size
        peak = max(peak, live)
    return peak
