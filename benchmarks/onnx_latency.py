"""Latency of a re-ID model exported to ONNX, onnxruntime against PyTorch
eager, in one process: ResNet50 + COSAM_4,5 with TP_avg, 4 frames of 256x128
per clip, for 1 and for 8 clips. Prints a Markdown table (docs/deploying.md).

    python benchmarks/onnx_latency.py [--rounds 7] [--clips 1 8]

The weights are random: the latency does not depend on them. Each round
times both runtimes on the same fresh clips, in alternating order; the table
gives the medians and the quartiles over the rounds.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from cosam_reid.deploy.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx  # noqa: E402
from cosam_reid.models import build_model  # noqa: E402


def quartiles(times):
    q1, median, q3 = statistics.quantiles(times, n=4)
    return median, q1, q3


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def time_call(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clips", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    torch.manual_seed(0)
    model = build_model("resnet50", num_classes=625, num_frames=4, cosam_blocks=(4, 5)).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model, Path(folder) / "model.onnx")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    print(f"{cpu_name()}, {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}; "
          f"{args.rounds} rounds\n")
    print("| clips (x 4 frames) | PyTorch eager ms | onnxruntime ms | onnxruntime / eager | largest difference |")
    print("|---|---|---|---|---|")
    for count in args.clips:
        eager_times, onnx_times, difference = [], [], 0.0
        for round_index in range(args.rounds + 1):  # round 0 warms up
            clips = torch.randn(count, 4, 3, 256, 128)
            outputs = {}

            def eager():
                with torch.no_grad():
                    outputs["eager"] = model(clips)

            def onnx():
                outputs["onnx"] = session.run([OUTPUT_NAME], {INPUT_NAME: clips.numpy()})[0]

            order = [(eager, eager_times), (onnx, onnx_times)]
            for fn, times in order if round_index % 2 else order[::-1]:
                elapsed = time_call(fn)
                if round_index:
                    times.append(elapsed)
            difference = max(difference, float(np.abs(outputs["onnx"] - outputs["eager"].numpy()).max()))
        eager_stats, onnx_stats = quartiles(eager_times), quartiles(onnx_times)
        print(f"| {count} | {eager_stats[0]:.0f} ({eager_stats[1]:.0f}-{eager_stats[2]:.0f}) "
              f"| {onnx_stats[0]:.0f} ({onnx_stats[1]:.0f}-{onnx_stats[2]:.0f}) "
              f"| {onnx_stats[0] / eager_stats[0]:.2f} | {difference:.1e} |")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
