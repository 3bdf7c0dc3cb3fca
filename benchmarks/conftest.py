"""Benchmark configuration: smoke mode, the parametrization over devices and
cases, the timing helper, and what goes into the JSON besides the timings.

    pytest benchmarks --smoke                      # every benchmark once, tiny shapes (CI)
    pytest benchmarks --benchmark-json=PATH        # the full run
"""
import dataclasses
import os
import platform
import shlex
import sys
import time

import pytest
import torch

import cosam_ext
from cosam_reid.memory import allocator_description, keep_freed_memory

import cases
import roofline
from peak_memory import peak_memory

#: Full mode: rounds fill about this many seconds per benchmark, within the bounds.
TARGET_SECONDS = 2.0
#: The layer's ratio to its reduction conv is a headline figure, and a layer
#: call varies by +-10% here from call to call: it gets more rounds (each
#: round times the layer, its reduction and the reference).
LAYER_TARGET_SECONDS = 30.0
#: A round of the training-step benchmark is three steps of several seconds
#: each; its targets are a few percent apart.
MODEL_TARGET_SECONDS = 240.0
MIN_ROUNDS, MAX_ROUNDS = 3, 20
#: Load average (1, 5, 15 min) when the session started, before any benchmark ran.
LOAD_AT_START = os.getloadavg()


def pytest_addoption(parser):
    parser.addoption(
        "--smoke", action="store_true",
        help="run every benchmark once on tiny shapes (also COSAM_BENCH_SMOKE=1)",
    )
    parser.addoption(
        "--keep-freed-memory", action="store_true",
        help="keep freed memory for reuse, as the cosam-reid command does (default: glibc's malloc as it is)",
    )


def pytest_configure(config):
    config.freed_memory_kept = config.getoption("--keep-freed-memory") and keep_freed_memory()


def pytest_generate_tests(metafunc):
    smoke = cases.is_smoke(metafunc.config)
    # A benchmark that takes a dtype runs each device in that device's dtypes.
    paired = "dtype" in metafunc.fixturenames
    if paired:
        pairs = cases.device_dtypes()
        metafunc.parametrize(("device", "dtype"), pairs, ids=[cases.device_dtype_id(*pair) for pair in pairs])
    parameters = {
        "device": cases.devices(),
        "op_case": cases.op_cases(smoke),
        "op": cases.OPS,
        "pass_": cases.PASSES,
        "implementation": tuple(cases.IMPLEMENTATIONS),
        "layer_case": cases.layer_cases(smoke),
        "rate": roofline.RATES,
    }
    for name, values in parameters.items():
        if name in metafunc.fixturenames and not (paired and name == "device"):
            metafunc.parametrize(name, values, ids=[getattr(v, "id", str(v)) for v in values])


@pytest.fixture(autouse=True)
def _seeded():
    """Each benchmark draws its inputs (and model weights) from seed 0: a rerun
    times the same values, and a smoke failure reproduces."""
    torch.manual_seed(0)


@pytest.fixture
def smoke(request):
    return cases.is_smoke(request.config)


@pytest.fixture
def measure(benchmark, smoke):
    """measure(make_inputs, call, device, memory_spec, target_seconds, **info): times call(inputs)
    on fresh inputs from make_inputs() each round, records the peak memory of
    one call (unless memory_spec is None) and the case description in extra_info."""

    def run(make_inputs, call, device, memory_spec, target_seconds=TARGET_SECONDS, **info):
        def setup():
            inputs = make_inputs()
            cases.synchronize(device)
            return (inputs,), {}

        def target(inputs):
            call(inputs)
            cases.synchronize(device)

        def timed_call():
            (inputs,), _ = setup()
            start = time.perf_counter()
            target(inputs)
            return time.perf_counter() - start

        rounds, warmup = 1, 0
        if not smoke:
            # A warm-up call sizes the rounds. A first call also pays one-time
            # costs (allocations, library set-up) that would cut the rounds
            # short, so where it is cheap a second call sizes them instead.
            seconds = timed_call()
            if seconds < target_seconds / 2:
                seconds = timed_call()
            rounds = max(MIN_ROUNDS, min(MAX_ROUNDS, int(target_seconds / max(seconds, 1e-6))))
        benchmark.pedantic(target, setup=setup, rounds=rounds, warmup_rounds=warmup, iterations=1)
        benchmark.extra_info.update(info, device=device)
        if memory_spec is not None:
            benchmark.extra_info["peak_memory_bytes"] = peak_memory(memory_spec, device)

    return run


@pytest.fixture
def measure_paired(measure, benchmark):
    """measure_paired(make_inputs, calls, device, target_seconds, memory_specs, **info):
    each round runs every call of calls ({name: call(inputs)}) once on fresh
    inputs from make_inputs() ({name: inputs}), in turn (cases.run_in_turn);
    extra_info gets each call's time per measured round ("paired_seconds")
    and, for the names in memory_specs, the peak memory of one call."""

    def run(make_inputs, calls, device, target_seconds, memory_specs=None, **info):
        seconds = {name: [] for name in calls}
        measure(
            make_inputs=make_inputs,
            call=lambda inputs: cases.run_in_turn(calls, inputs, seconds, device),
            device=device, memory_spec=None, target_seconds=target_seconds, **info,
        )
        # The last rounds are the measured ones; the calls before them warmed up.
        rounds = len(benchmark.stats.stats.data)
        benchmark.extra_info["paired_seconds"] = {name: times[-rounds:] for name, times in seconds.items()}
        if memory_specs:
            benchmark.extra_info["peak_memory_bytes"] = {
                name: peak_memory(spec, device) for name, spec in memory_specs.items()
            }

    return run


def case_info(case):
    return {"case": dataclasses.asdict(case), "case_id": case.id}


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update(
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
        cuda_device=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        platform=platform.platform(),
        cosam_ext_path=os.path.dirname(cosam_ext.__file__),
        cosam_ext_library_built=_library_mtime(),
        load_average_start=LOAD_AT_START,
        memory=allocator_description(config.freed_memory_kept),
        smoke=cases.is_smoke(config),
        command=" ".join([_pytest_invocation()] + [shlex.quote(arg) for arg in sys.argv[1:]]),
    )


def _library_mtime():
    library = cosam_ext.ops._C.__file__
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(os.path.getmtime(library)))


def _pytest_invocation():
    return "python -m pytest" if sys.argv[0].endswith("__main__.py") else "pytest"


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["machine_info"]["load_average_end"] = os.getloadavg()
