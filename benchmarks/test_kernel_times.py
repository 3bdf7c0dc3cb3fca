"""benchmarks/kernel_times.py, the GPU verification's profiler step, run end
to end as its CPU rehearsal; and the performance model's tables, which it
predicts from, as docs/gpu-performance-model.md shows them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import gpu_model
import kernel_times

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    """A script of benchmarks/ as the GPU verification runs it: from the
    repository root, with the root on PYTHONPATH."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": path},
                          capture_output=True, text=True, timeout=600)


def test_cpu_rehearsal_measures_every_op(tmp_path):
    path = tmp_path / "kernel-times.json"
    done = run("benchmarks/kernel_times.py", "--device", "cpu", "--smoke", "--json", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(path.read_text())
    expected = [(shape.name, dtype, op) for shape, dtype, op in kernel_times.runs("cpu", smoke=True)]
    assert [(r["shape"], r["dtype"], r["op"]) for r in report["results"]] == expected
    for result in report["results"]:
        assert "error" not in result, result
        assert result["kernels"], result
        for kernel in result["kernels"]:
            assert kernel["launches"] > 0 and kernel["measured_us"] > 0, (result["op"], kernel)
        assert result["predicted_us"] > 0 and result["predicted_launches"] > 0, result
        # The GEMMs are looked up among the predictions (on the CPU: aten::mm and the like).
        if result["op"] == "ncc_summary":
            gemm = next(k for k in result["kernels"] if k["kernel"] == gpu_model.GEMM_KEY)
            assert gemm["predicted_us"] > 0 and gemm["ratio"] > 0, gemm
    assert done.stdout.count("| kernel | launches (predicted) |") == len(expected), done.stdout


def test_cuda_kernel_names_are_grouped_as_predicted():
    """Kernel names as the profiler reports them on CUDA (the cosam kernels
    demangled; cuBLAS's and ATen's as their libraries name them)."""
    names = {
        "void cosam::cuda::normalize_kernel<float>(float const*, float*, float*, float*, cosam::FrameBatch, float)":
            "normalize_kernel",
        "void cosam::cuda::apply_attention_kernel<c10::BFloat16>(c10::BFloat16 const*, c10::BFloat16 const*, "
        "c10::BFloat16 const*, c10::BFloat16*, cosam::AttentionBatch)": "apply_attention_kernel",
        "nvjet_tst_128x64_64x6_2x1_v_bz_TNT": gpu_model.GEMM_KEY,
        "sm90_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x128x32_warpgroupsize1x1x1_execute_segment_k_off_kernel"
        "__5x_cublas": gpu_model.GEMM_KEY,
        "ampere_sgemm_128x64_tn": gpu_model.GEMM_KEY,
        "void cublasLt::splitKreduce_kernel<32, 16, int, float, float, float, float, false, false, false>"
        "(cublasLt::cublasSplitKParams<float>, float const*, float*, float const*, float const*)": gpu_model.GEMM_KEY,
        "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, "
        "std::array<char*, 1ul> >(int, at::native::FillFunctor<float>, std::array<char*, 1ul>)": gpu_model.ATEN_KEY,
        "Memset (Device)": "Memset (Device)",
    }
    assert {name: kernel_times.kernel_key(name) for name in names} == names
    predicted = {key for op in gpu_model.OP_PASSES
                 for key in gpu_model.predicted_by_kernel(gpu_model.SHAPES[0], "float32", op)}
    assert {"normalize_kernel", "apply_attention_kernel", gpu_model.GEMM_KEY, gpu_model.ATEN_KEY} <= predicted


def test_the_doc_shows_the_models_tables():
    done = run("benchmarks/gpu_model.py")
    assert done.returncode == 0, done.stderr
    doc = (ROOT / "docs" / "gpu-performance-model.md").read_text()
    for table in done.stdout.strip().split("\n\n#### "):
        assert table.removeprefix("#### ") in doc, table.split("\n", 1)[0]
