"""Peak memory of one measured call (a spec: see `prepare`).

CUDA: torch.cuda.max_memory_allocated after a reset, minus what was allocated
before the call. CPU: the call runs once in a fresh Python process (this file
as a script) and the result is the growth of the peak RSS over the RSS just
before the call, which sees every ATen allocation, however made: the peak
(VmHWM, what ru_maxrss reports) is reset to the current RSS through
/proc/self/clear_refs right before the call, so that the import of torch and
the making of the inputs do not hide a smaller peak. A
call of the same kind on tiny inputs runs first, so that one-time set-up
(thread pools, kernel caches: about 70 MB) is not counted.

    python benchmarks/peak_memory.py '{"kind": "op", ...}'   # prints bytes
"""
import dataclasses
import json
import os
import subprocess
import sys

import torch

import cosam_ext
import cases


def prepare(spec, device):
    """Inputs for one call, and the call itself (nothing run yet)."""
    if spec["kind"] == "op":
        case = cases.OpCase(**spec["case"])
        inputs = cases.make_op_inputs(case, spec["op"], spec["pass"], device)
        return lambda: cases.run_op(spec["op"], spec["implementation"], case, inputs)
    case = cases.LayerCase(**spec["case"])
    module = cases.make_layer_module(case, spec["part"], device)
    inputs = cases.make_layer_inputs(case, spec["part"], device)
    return lambda: cases.run_layer(module, inputs)


def tiny(spec):
    """The same call on the smoke-mode shapes."""
    case = cases.SMOKE_OP_CASES[0] if spec["kind"] == "op" else cases.SMOKE_LAYER_CASE
    return dict(spec, case=dataclasses.asdict(case))


def peak_memory(spec, device):
    """Peak bytes allocated by the call described by spec, beyond its inputs."""
    if torch.device(device).type == "cuda":
        return _cuda_peak(spec, device)
    # The subprocess imports the cosam_ext this process uses, wherever pip points.
    package_root = os.path.dirname(os.path.dirname(cosam_ext.__file__))
    pythonpath = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), json.dumps(spec)],
        check=True, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=pythonpath),
    )
    return int(result.stdout.strip().splitlines()[-1])


def _cuda_peak(spec, device):
    call = prepare(spec, device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    call()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _cpu_peak_in_this_process(spec):
    prepare(tiny(spec), "cpu")()
    call = prepare(spec, "cpu")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets the peak RSS (VmHWM, ru_maxrss) to the current RSS
    before = _status_bytes("VmRSS")
    call()
    return max(0, _status_bytes("VmHWM") - before)


if __name__ == "__main__":
    print(_cpu_peak_in_this_process(json.loads(sys.argv[1])))
