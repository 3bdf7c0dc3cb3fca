"""A performance model of the CUDA path, on paper: for each kernel and GEMM
of a CosamLayer's cosam ops (forward and backward, fused order), the bytes it
must move, its FLOPs, the threads its launch puts on the card against what
the card holds, and the time the bandwidth and GEMM roofline predict.

    python benchmarks/gpu_model.py            # the tables of docs/gpu-performance-model.md

Inputs are the cards' published figures (CARDS) and two assumptions of the
model, stated with them: a kernel whose threads cannot keep enough bytes in
flight to cover the memory latency (Little's law) is limited to
threads * BYTES_IN_FLIGHT_PER_THREAD / LATENCY; launches cost nothing. The
launch shapes are those of csrc/cuda/kernels/*.cuh.
"""
import argparse
import dataclasses
import math

#: Published figures (dense, without sparsity): SMs, HBM bandwidth (bytes/s),
#: FP32 on the CUDA cores and BF16 on the tensor cores (FLOP/s).
CARDS = {
    "H100 SXM": dict(sms=132, bandwidth=3.35e12, fp32=66.9e12, bf16=989.4e12),
    "H200 SXM": dict(sms=132, bandwidth=4.8e12, fp32=66.9e12, bf16=989.4e12),
}
THREADS_PER_SM = 2048
#: The model's assumptions: each thread has four independent 4-byte loads in
#: flight (unrolled loops), and a load takes about 600 ns from HBM.
BYTES_IN_FLIGHT_PER_THREAD = 16
LATENCY = 600e-9

#: The launch constants of csrc/cuda/kernels/: 1-D blocks, 2-D column tiles.
THREADS, MAX_BLOCKS, TILE_COLS, TILE_ROWS = 256, 65536, 32, 8
SUMMARY_WIDTH = 64  # K: output channels of the authors' summary conv


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str
    clips: int  # B
    frames: int  # N
    channels: int  # C, the layer's input
    reduced: int  # D
    height: int
    width: int

    @property
    def positions(self):
        return self.height * self.width

    @property
    def maps(self):
        return self.clips * self.frames  # B*N


#: The benchmark cases (benchmarks/cases.py): the maps a COSAM block of ResNet50
#: sees at 256x128 input.
SHAPES = [
    Shape("COSAM_2 B8N4 64x32", 8, 4, 256, 64, 64, 32),
    Shape("COSAM_4 B32N4 16x8", 32, 4, 1024, 256, 16, 8),
    Shape("COSAM_3 B32N8 32x16", 32, 8, 512, 256, 32, 16),
]


@dataclasses.dataclass
class Launch:
    name: str
    bytes: float
    flops: float = 0.0
    threads: int = 0  # 0 for a GEMM (cuBLAS picks its launch)
    shape: str = "cuBLAS"


def grid_stride(elements):
    blocks = min(math.ceil(elements / THREADS), MAX_BLOCKS)
    return blocks * THREADS, f"{blocks} x {THREADS}"


def per_row(rows):
    return rows * THREADS, f"{rows} x {THREADS}"


def column_tiles(maps, positions):
    blocks = maps * math.ceil(positions / TILE_COLS)
    return blocks * TILE_COLS * TILE_ROWS, f"{blocks} x ({TILE_COLS}x{TILE_ROWS})"


def gemm(name, macs, bytes_):
    return Launch(name, bytes=bytes_, flops=2 * macs)


def kernel(name, bytes_, launch):
    threads, shape = launch
    return Launch(name, bytes=bytes_, threads=threads, shape=shape)


def launches(s, e):
    """The cosam ops' launches of one forward and backward at shape s, for
    elements of e bytes (statistics and dc shares in float)."""
    F, N, B, C, D, P, K = s.maps, s.frames, s.clips, s.channels, s.reduced, s.positions, SUMMARY_WIDTH
    x, xd, xs = F * C * P * e, F * D * P * e, F * P * e  # the layer's x, the reduced x, a mask
    pairs, v = N * B * D * 2 * K * e, N * B * D * K * e
    slot_macs, own_macs = 2 * (N - 1) * B * D * P * K, F * K * D * P
    weights, logits = (N - 1) * P * K * e, F * K * P * e
    tiles = column_tiles(F, P)
    return {
        "ncc_summary": [
            kernel("normalize_kernel", 2 * xd + 2 * F * P * 4, tiles),
            gemm("slot GEMMs Z_m W_s^T", slot_macs, xd + weights + pairs),
            kernel("slot_sums_kernel", pairs + v, grid_stride(B * D * K)),
            gemm("own-frame GEMM V_n^T Z_n", own_macs, xd + v + logits),
        ],
        "ncc_summary_backward": [
            kernel("normalize_kernel (z again)", 2 * xd + 2 * F * P * 4, tiles),
            gemm("dV, dZ own-frame GEMMs", 2 * own_macs, 2 * logits + 2 * xd + 2 * v),
            kernel("slot_sums_backward_kernel", v + pairs, grid_stride(B * D * K)),
            gemm("dW, dZ slot GEMMs", 2 * slot_macs, 2 * pairs + 2 * xd + 2 * weights),
            kernel("normalize_backward_kernel", 3 * xd + 2 * F * P * 4, tiles),
        ],
        "masked_mean": [kernel("masked_mean_kernel", x + xs + F * C * e, per_row(F * C))],
        "masked_mean_backward": [
            kernel("masked_mean_backward_kernel", F * C * e + 2 * x + 2 * xs, column_tiles(F, P)),
        ],
        "apply_attention": [kernel("apply_attention_kernel", 2 * x + xs + B * C * e, grid_stride(F * C * P))],
        "apply_attention_backward": [
            kernel("apply_attention_backward_rows_kernel", 3 * x + xs + F * C * 4, per_row(F * C)),
            kernel("apply_attention_backward_positions_kernel", 2 * x + xs, column_tiles(F, P)),
        ],
    }


def predict(launch, card, dtype):
    """(seconds, what bounds it) on the card."""
    resident = card["sms"] * THREADS_PER_SM
    bandwidth = card["bandwidth"]
    if launch.threads:
        in_flight = min(launch.threads, resident) * BYTES_IN_FLIGHT_PER_THREAD / LATENCY
        if in_flight < bandwidth:
            return launch.bytes / in_flight, "latency (too few threads)"
        return launch.bytes / bandwidth, "bandwidth"
    peak = card["bf16"] if dtype == "bfloat16" else card["fp32"]
    compute, memory = launch.flops / peak, launch.bytes / bandwidth
    return max(compute, memory), "GEMM rate" if compute >= memory else "bandwidth"


def table(shape, dtype):
    e = 2 if dtype == "bfloat16" else 4
    cards = list(CARDS)
    resident = CARDS[cards[0]]["sms"] * THREADS_PER_SM
    lines = [
        f"#### {shape.name}, {dtype}",
        "",
        "| op | launch | grid (blocks x threads) | threads / resident | MB | GFLOP | "
        + " | ".join(f"{c} us" for c in cards) + " | bound (H200) |",
        "|---|---|---|---:|---:|---:|" + "---:|" * len(cards) + "---|",
    ]
    totals = [0.0] * len(cards)
    for op, items in launches(shape, e).items():
        for launch in items:
            times = [predict(launch, CARDS[c], dtype) for c in cards]
            for i, (seconds, _) in enumerate(times):
                totals[i] += seconds
            occupancy = f"{launch.threads / resident:.2f}" if launch.threads else "-"
            lines.append(
                f"| {op} | {launch.name} | {launch.shape} | {occupancy} | {launch.bytes / 1e6:.1f} | "
                f"{launch.flops / 1e9:.2f} | " + " | ".join(f"{t * 1e6:.1f}" for t, _ in times)
                + f" | {times[-1][1]} |"
            )
    lines.append("| **all** | | | | | | " + " | ".join(f"**{t * 1e6:.0f}**" for t in totals) + " | |")
    return "\n".join(lines)


def reshaped(shape, card="H200 SXM", dtype="float32"):
    """The two kernels moved from one thread per (frame, position), looping
    over all C channels, to column tiles: predicted before and after."""
    e = 2 if dtype == "bfloat16" else 4
    resident = CARDS[card]["sms"] * THREADS_PER_SM
    lines = []
    for op, items in launches(shape, e).items():
        for after in items:
            if after.name not in ("masked_mean_backward_kernel", "apply_attention_backward_positions_kernel"):
                continue
            threads, grid = grid_stride(shape.maps * shape.positions)
            before = dataclasses.replace(after, threads=threads, shape=grid)
            (old, _), (new, _) = predict(before, CARDS[card], dtype), predict(after, CARDS[card], dtype)
            lines.append(f"| {shape.name} | {after.name} | {before.shape} ({threads / resident:.2f}) | "
                         f"{after.shape} ({after.threads / resident:.2f}) | {old * 1e6:.1f} | {new * 1e6:.1f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], action="append",
                        help="element type (repeatable; default float32 and bfloat16)")
    args = parser.parse_args()
    for dtype in args.dtype or ["float32", "bfloat16"]:
        for shape in SHAPES:
            print(table(shape, dtype))
            print()
    print("#### Launch shapes replaced (H200 SXM, float32)")
    print()
    print("| shape | kernel | before: grid (threads / resident) | now | before us | now us |")
    print("|---|---|---|---|---:|---:|")
    for shape in SHAPES:
        print("\n".join(reshaped(shape)))


if __name__ == "__main__":
    main()
