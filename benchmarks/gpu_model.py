"""A performance model of the CUDA path, on paper: for each launch of a
CosamLayer's cosam ops (forward and backward, fused order) -- cosam kernel,
cuBLAS GEMM or ATen helper -- the bytes it moves, its FLOPs, the threads its
launch keeps resident against what the card holds, and the time predicted by
the bandwidth, latency (Little's law), instruction-issue and GEMM bounds;
and the host time of the launches against that GPU time.

    python benchmarks/gpu_model.py            # the tables of docs/gpu-performance-model.md

Inputs: the cards' published figures (CARDS); what ptxas and the SASS of
the kernels say (REGISTERS, LOOPS: sm_90, CUDA 13.0); and the model's assumptions, stated with them. The launch
shapes are those of csrc/cuda/kernels/*.cuh and the launchers in
csrc/cuda/*.cu, the GEMMs and ATen calls those of csrc/ncc_algebra.h.
benchmarks/kernel_times.py compares these predictions with profiler kernel
times (predicted_by_kernel).
"""
import argparse
import dataclasses
import math

#: Published figures (dense, without sparsity): SMs, HBM bandwidth (bytes/s),
#: FP32 on the CUDA cores and BF16 on the tensor cores (FLOP/s), boost clock.
CARDS = {
    "H100 SXM": dict(sms=132, bandwidth=3.35e12, fp32=66.9e12, bf16=989.4e12, clock=1.98e9),
    "H200 SXM": dict(sms=132, bandwidth=4.8e12, fp32=66.9e12, bf16=989.4e12, clock=1.98e9),
}
#: Per SM of compute capability 9.0: resident threads and blocks, 32-bit
#: registers, and the registers a warp is allocated in units of.
THREADS_PER_SM, BLOCKS_PER_SM, REGISTERS_PER_SM, REGISTER_GRANULE = 2048, 32, 65536, 256
WARP = 32

#: The model's assumptions: a load from HBM takes about 600 ns; a launch
#: costs about 4.5 us of host time (the CUDA runtime and the ATen dispatch
#: around it); cuBLAS tiles a GEMM's output in 128 x 128 tiles, one CTA each,
#: without splitting the inner dimension.
LATENCY = 600e-9
LAUNCH_HOST_TIME = 4.5e-6
GEMM_TILE = 128

#: Registers per thread of each kernel (float32, bfloat16), from ptxas -v in
#: `make check-cuda-build`. None spills; the static shared memory (at most
#: 1 KiB a block) never limits residency.
REGISTERS = {
    "normalize_kernel": (40, 40),
    "normalize_backward_kernel": (32, 32),
    "slot_sums_kernel": (32, 32),
    "slot_sums_backward_kernel": (32, 32),
    "masked_mean_kernel": (31, 31),
    "masked_mean_backward_kernel": (40, 36),
    "apply_attention_kernel": (29, 31),
    "apply_attention_backward_rows_kernel": (32, 37),
    "apply_attention_backward_positions_kernel": (32, 32),
}

#: The loop of each kernel that first reads its inputs from memory (later
#: passes re-read them through the caches), as compiled for sm_90: its
#: independent scalar loads per iteration, and how many iterations the
#: unrolled loop issues before consuming the first (float32, bfloat16). The
#: compiled loops run the first (trip count mod 4) iterations one at a time,
#: so a thread of fewer than 4 iterations has one in flight.
LOOPS = {
    "normalize_kernel": (1, 16, 16),  # the mean's pass over x
    "normalize_backward_kernel": (2, 16, 16),  # dz and x, for mean(dz) and gz
    "slot_sums_kernel": (1, 4, 4),  # the N-1 other frames' values of one output
    "slot_sums_backward_kernel": (1, 1, 1),  # a running sum: each store waits for the last load
    "masked_mean_kernel": (2, 16, 16),  # x and s
    "masked_mean_backward_kernel": (2, 4, 4),  # g and x, dx stored between
    # x, s, c: the store waits for them, the next element's loads for it (the
    # grid-stride loop's SASS before row tiles; the row loop's is to be re-read).
    "apply_attention_kernel": (3, 1, 1),
    "apply_attention_backward_rows_kernel": (3, 4, 4),  # g, s, x
    "apply_attention_backward_positions_kernel": (3, 16, 4),  # g, x, c
}
#: The launch constants of csrc/cuda/kernels/: 1-D blocks, 2-D column tiles,
#: CUDA's limit on a grid's y.
THREADS, MAX_BLOCKS, TILE_COLS, TILE_ROWS, MAX_GRID_Y = 256, 65536, 32, 8, 65535
SUMMARY_WIDTH = 64  # K: output channels of the authors' summary conv
DTYPES = ("float32", "bfloat16")
ELEMENT_SIZE = {"float32": 4, "bfloat16": 2}
#: Which launches of the model each op of the profiler run (kernel_times.py) covers.
OP_PASSES = {
    "ncc_summary": ("ncc_summary", "ncc_summary_backward"),
    "masked_mean": ("masked_mean", "masked_mean_backward"),
    "apply_attention": ("apply_attention", "apply_attention_backward"),
}
GEMM_KEY, ATEN_KEY = "GEMM (cuBLAS)", "ATen kernels"


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


def resident_threads_per_sm(registers, block_threads):
    """Threads of blocks of block_threads that an SM holds at once."""
    warps = math.ceil(block_threads / WARP)
    per_warp = math.ceil(registers * WARP / REGISTER_GRANULE) * REGISTER_GRANULE
    blocks = min(BLOCKS_PER_SM, THREADS_PER_SM // block_threads, REGISTERS_PER_SM // per_warp // warps)
    return blocks * block_threads


def iterations_in_flight(trips, unroll):
    return 1 if trips < 4 else min(unroll, trips - trips % 4)


@dataclasses.dataclass
class Kernel:
    """A cosam kernel: memory-bound unless its resident threads hold too few
    bytes in flight (Little's law)."""

    name: str
    kernel: str  # the __global__ function (REGISTERS, LOOPS, the profiler's name)
    bytes: float
    blocks: int
    block: tuple  # threads per block, (x,) or (x, y)
    trips: int  # iterations of its LOOPS entry per loading thread
    active: float = 1.0  # the fraction of its threads that load
    flops: float = 0.0
    launches: int = 1

    @property
    def key(self):
        return self.kernel

    @property
    def block_threads(self):
        return math.prod(self.block)

    @property
    def grid(self):
        threads = "x".join(map(str, self.block))
        return f"{self.blocks} x {threads if len(self.block) == 1 else f'({threads})'}"

    def registers(self, dtype):
        return REGISTERS[self.kernel][DTYPES.index(dtype)]

    def resident_per_sm(self, dtype):
        return resident_threads_per_sm(self.registers(dtype), self.block_threads)

    def occupancy(self, card, dtype):
        """Threads launched / threads the card holds at this kernel's registers."""
        return self.blocks * self.block_threads / (card["sms"] * self.resident_per_sm(dtype))

    def bytes_in_flight(self, dtype):
        """Per loading thread."""
        loads, *unroll = LOOPS[self.kernel]
        return loads * iterations_in_flight(self.trips, unroll[DTYPES.index(dtype)]) * ELEMENT_SIZE[dtype]

    def predict(self, card, dtype):
        resident_blocks = min(self.blocks, card["sms"] * self.resident_per_sm(dtype) // self.block_threads)
        loading = resident_blocks * self.block_threads * self.active
        latency_rate = loading * self.bytes_in_flight(dtype) / LATENCY
        memory = self.bytes / min(card["bandwidth"], latency_rate)
        return memory, "latency (Little's law)" if latency_rate < card["bandwidth"] else "bandwidth"


@dataclasses.dataclass
class Gemm:
    """cuBLAS calls of one kind: (rows, columns, inner, batch, bytes) each,
    run one after another. A call of fewer CTAs than SMs gets that share of
    the peak rate."""

    name: str
    calls: list

    @property
    def launches(self):
        return len(self.calls)

    @property
    def flops(self):
        return sum(2 * m * n * k * batch for m, n, k, batch, _ in self.calls)

    @property
    def bytes(self):
        return sum(call[-1] for call in self.calls)

    @property
    def ctas(self):
        return [batch * math.ceil(m / GEMM_TILE) * math.ceil(n / GEMM_TILE) for m, n, _, batch, _ in self.calls]

    @property
    def grid(self):
        low, high = min(self.ctas), max(self.ctas)
        ctas = f"{low}" if low == high else f"{low}-{high}"
        return f"cuBLAS {self.launches} x {ctas} CTAs" if self.launches > 1 else f"cuBLAS {ctas} CTAs"

    key = GEMM_KEY

    def predict(self, card, dtype):
        peak = card["bf16"] if dtype == "bfloat16" else card["fp32"]
        compute = memory = seconds = 0.0
        for (m, n, k, batch, bytes_), ctas in zip(self.calls, self.ctas):
            c = 2 * m * n * k * batch / (peak * min(1.0, ctas / card["sms"]))
            b = bytes_ / card["bandwidth"]
            compute, memory, seconds = compute + c, memory + b, seconds + max(c, b)
        if memory >= compute:
            return seconds, "bandwidth"
        return seconds, "GEMM rate, small grid" if min(self.ctas) < card["sms"] else "GEMM rate"


@dataclasses.dataclass
class Aten:
    """An ATen copy, fill or reduction: taken at the bandwidth (vectorised
    kernels, one launch)."""

    name: str
    bytes: float
    flops = 0.0
    launches = 1
    grid = "ATen"
    key = ATEN_KEY

    def predict(self, card, dtype):
        return self.bytes / card["bandwidth"], "bandwidth"


def grid_stride(name, kernel, bytes_, elements, trips):
    blocks = min(math.ceil(elements / THREADS), MAX_BLOCKS)
    return Kernel(name, kernel, bytes_, blocks, (THREADS,), trips)


def row_tiles(name, kernel, bytes_, frames, channels, positions):
    """Row tiles (row_tiles.cuh): THREADS / W rows of W threads a block, W the
    largest power of two <= P between a warp and THREADS; x over groups of
    channels, y over frames, each capped (the loops cover the rest)."""
    width = WARP
    while width < THREADS and 2 * width <= positions:
        width *= 2
    rows = THREADS // width
    x = min(math.ceil(channels / rows), MAX_BLOCKS)
    y = min(frames, MAX_GRID_Y, MAX_BLOCKS // x)
    return Kernel(name, kernel, bytes_, x * y, (width, rows), math.ceil(positions / width),
                  active=min(positions, width) / width)


def column_tiles(name, kernel, bytes_, maps, positions, channels):
    tiles = math.ceil(positions / TILE_COLS)
    return Kernel(name, kernel, bytes_, maps * tiles, (TILE_COLS, TILE_ROWS), math.ceil(channels / TILE_ROWS),
                  active=positions / (tiles * TILE_COLS))


def launches(s, dtype):
    """The launches of the cosam ops' forward and backward at shape s, in
    the order the code issues them (statistics and dc shares in float)."""
    e = ELEMENT_SIZE[dtype]
    F, N, B, C, D, P, K = s.maps, s.frames, s.clips, s.channels, s.reduced, s.positions, SUMMARY_WIDTH
    BD = B * D
    x, xd, xs = F * C * P * e, F * D * P * e, F * P * e  # the layer's x, the reduced x, a mask
    v, logits, weights = F * D * K * e, F * K * P * e, (N - 1) * K * P * e
    stats = 2 * F * P * 4  # mean and stdev
    # One slot: [Z_s; Z_{s+1}] (2BD, P) by W_s^T (P, K); each dZ slot call one plane (BD, K) by W_s.
    slot = (2 * BD * P + K * P + 2 * BD * K) * e
    dz_slot = (BD * K + K * P + 2 * BD * P) * e
    return {
        "ncc_summary": [
            column_tiles("normalize_kernel", "normalize_kernel", 2 * xd + stats, F, P, D),
            Gemm("slot GEMM [Z_s; Z_s+1] W_s^T", [(2 * BD, K, P, N - 1, (N - 1) * slot)]),
            grid_stride("slot_sums_kernel", "slot_sums_kernel", 2 * (N - 1) * BD * K * e + v, BD * K, N - 1),
            Gemm("own-frame GEMM V_n^T Z_n", [(K, P, D, F, xd + v + logits)]),
            Aten("bias add into clip-major logits (add)", 2 * logits),
        ],
        "ncc_summary_backward": [
            column_tiles("normalize_kernel (z again)", "normalize_kernel", 2 * xd + stats, F, P, D),
            Aten("gradient to frame-major (copy)", 2 * logits),
            Aten("bias gradient (sum)", logits),
            Gemm("dV GEMM Z_n G_n^T", [(D, K, P, F, xd + logits + v)]),
            grid_stride("slot_sums_backward_kernel", "slot_sums_backward_kernel", v + 2 * N * BD * K * e, BD * K, N),
            Gemm("dW slot GEMM", [(K, P, 2 * BD, N - 1, (N - 1) * slot)]),
            Gemm("dZ own-frame GEMM V_n G_n", [(D, P, K, F, v + logits + xd)]),
            Gemm("dZ slot GEMMs (hi, lo)", [(BD, P, K, N - 1, (N - 1) * dz_slot)] * 2),
            column_tiles("normalize_backward_kernel", "normalize_backward_kernel", 3 * xd + stats, F, P, D),
        ],
        "masked_mean": [row_tiles("masked_mean_kernel", "masked_mean_kernel", x + xs + F * C * e, F, C, P)],
        "masked_mean_backward": [
            column_tiles("masked_mean_backward_kernel", "masked_mean_backward_kernel",
                         F * C * e + 2 * x + 2 * xs, F, P, C),
        ],
        "apply_attention": [
            row_tiles("apply_attention_kernel", "apply_attention_kernel", 2 * x + xs + B * C * e, F, C, P),
        ],
        "apply_attention_backward": [
            row_tiles("apply_attention_backward_rows_kernel", "apply_attention_backward_rows_kernel",
                      3 * x + xs + F * C * 4, F, C, P),
            column_tiles("apply_attention_backward_positions_kernel", "apply_attention_backward_positions_kernel",
                         2 * x + xs, F, P, C),
            Aten("dc: the frames' shares summed (sum)", F * C * 4 + B * C * 4),
        ] + ([Aten("dc to bfloat16 (copy)", B * C * (4 + e))] if dtype == "bfloat16" else []),
    }


def kernels_table():
    """The inputs per kernel: registers, what they leave resident, the loop."""
    lines = [
        "| kernel | registers (float32 / bfloat16) | resident threads / SM | loads / iteration "
        "| iterations in flight, at most (float32 / bfloat16) |",
        "|---|---:|---:|---:|---:|",
    ]
    for kernel, registers in REGISTERS.items():
        # Every kernel's block holds THREADS threads (column tiles: TILE_COLS x TILE_ROWS).
        resident = " / ".join(str(resident_threads_per_sm(r, THREADS)) for r in registers)
        loads, *unroll = LOOPS[kernel]
        lines.append(f"| {kernel} | {' / '.join(map(str, registers))} | {resident} | {loads} | "
                     f"{' / '.join(map(str, unroll))} |")
    return "\n".join(lines)


def table(shape, dtype):
    cards = list(CARDS)
    lines = [
        f"#### {shape.name}, {dtype}",
        "",
        "| op | launch | launches | grid (blocks x threads) | registers | threads / resident | B in flight / thread "
        "| MB | GFLOP | " + " | ".join(f"{c} us" for c in cards) + " | bound (H200) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|" + "---:|" * len(cards) + "---|",
    ]
    totals, count = [0.0] * len(cards), 0
    for op, items in launches(shape, dtype).items():
        for launch in items:
            times = [launch.predict(CARDS[c], dtype) for c in cards]
            for i, (seconds, _) in enumerate(times):
                totals[i] += seconds
            count += launch.launches
            if isinstance(launch, Kernel):
                kernel = (f"{launch.registers(dtype)} | {launch.occupancy(CARDS[cards[-1]], dtype):.2f} | "
                          f"{launch.bytes_in_flight(dtype)}")
            else:
                kernel = "- | - | -"
            lines.append(
                f"| {op} | {launch.name} | {launch.launches} | {launch.grid} | {kernel} | {launch.bytes / 1e6:.1f} | "
                f"{launch.flops / 1e9:.2f} | " + " | ".join(f"{t * 1e6:.1f}" for t, _ in times)
                + f" | {times[-1][1]} |"
            )
    lines.append(f"| **all** | | **{count}** | | | | | | | "
                 + " | ".join(f"**{t * 1e6:.0f}**" for t in totals) + " | |")
    return "\n".join(lines)


def op_time(shape, dtype, op, card="H200 SXM"):
    """(launches, predicted GPU seconds) of op's forward and backward."""
    items = [launch for part in OP_PASSES[op] for launch in launches(shape, dtype)[part]]
    return sum(launch.launches for launch in items), sum(launch.predict(CARDS[card], dtype)[0] for launch in items)


def launch_overhead(card="H200 SXM"):
    """Host time of each op's launches (forward+backward) against its predicted GPU time."""
    lines = [
        f"#### Host launch time against GPU time ({card}, {LAUNCH_HOST_TIME * 1e6:.1f} us a launch)",
        "",
        "| shape | dtype | op (forward+backward) | launches | host us | GPU us | bound |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for dtype in DTYPES:
        for shape in SHAPES:
            for op in OP_PASSES:
                count, gpu = op_time(shape, dtype, op, card)
                host = count * LAUNCH_HOST_TIME
                lines.append(f"| {shape.name} | {dtype} | {op} | {count} | {host * 1e6:.1f} | {gpu * 1e6:.1f} | "
                             f"{'launches' if host > gpu else 'GPU'} |")
    return "\n".join(lines)


def predicted_by_kernel(shape, dtype, op, card="H200 SXM"):
    """{key: (launches, seconds)} for op's forward and backward, keyed as a
    profiler names the kernels: a cosam kernel by its function, cuBLAS under
    GEMM_KEY, ATen's helpers under ATEN_KEY."""
    predicted = {}
    for part in OP_PASSES[op]:
        for launch in launches(shape, dtype)[part]:
            count, seconds = predicted.get(launch.key, (0, 0.0))
            predicted[launch.key] = (count + launch.launches, seconds + launch.predict(CARDS[card], dtype)[0])
    return predicted


def reshaped(shape, card="H200 SXM", dtype="float32"):
    """The two kernels moved from one thread per (frame, position), looping
    over all C channels, to column tiles: predicted before and after (the
    old kernels' loop and registers taken as the new ones')."""
    lines = []
    for items in launches(shape, dtype).values():
        for after in items:
            if getattr(after, "kernel", None) not in ("masked_mean_backward_kernel",
                                                      "apply_attention_backward_positions_kernel"):
                continue
            before = grid_stride(after.name, after.kernel, after.bytes, shape.maps * shape.positions, shape.channels)
            (old, _), (new, _) = before.predict(CARDS[card], dtype), after.predict(CARDS[card], dtype)
            lines.append(f"| {shape.name} | {after.name} | {before.grid} ({before.occupancy(CARDS[card], dtype):.2f}) | "
                         f"{after.grid} ({after.occupancy(CARDS[card], dtype):.2f}) | {old * 1e6:.1f} | {new * 1e6:.1f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=DTYPES, action="append",
                        help="element type (repeatable; default float32 and bfloat16)")
    args = parser.parse_args()
    print("#### Kernels (sm_90)")
    print()
    print(kernels_table())
    print()
    for dtype in args.dtype or DTYPES:
        for shape in SHAPES:
            print(table(shape, dtype))
            print()
    print(launch_overhead())
    print()
    print("#### Launch shapes replaced (H200 SXM, float32)")
    print()
    print("| shape | kernel | before: grid (threads / resident) | now | before us | now us |")
    print("|---|---|---|---|---:|---:|")
    for shape in SHAPES:
        print("\n".join(reshaped(shape)))


if __name__ == "__main__":
    main()
