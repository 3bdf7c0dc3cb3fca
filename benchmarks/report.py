"""Turn pytest-benchmark JSON into benchmarks/RESULTS.md and benchmarks/chart.png.

    python benchmarks/report.py [results.json [rerun.json ...]]

Without an argument: the newest JSON under benchmarks/ or .benchmarks/. With
several, a later file's results replace an earlier one's for the benchmarks
it measured again (a partial re-run, e.g. on a quieter machine), marked in
the tables.
"""
import collections
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import torch  # noqa: E402

import cases  # noqa: E402
import roofline  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 2**20


def latest_json():
    found = glob.glob(os.path.join(HERE, "*.json")) + glob.glob(
        os.path.join(ROOT, ".benchmarks", "**", "*.json"), recursive=True
    )
    if not found:
        sys.exit("report.py: no benchmark JSON found; run pytest benchmarks --benchmark-json=benchmarks/results.json")
    return max(found, key=os.path.getmtime)


def ms(seconds):
    return f"{seconds * 1e3:.3g}"


def timing(result):
    stats = result["stats"]
    rerun = f" [run {result['run'] + 1}]" if result["run"] else ""
    return f"{ms(stats['median'])} ({ms(stats['iqr'])}, n={stats['rounds']}){rerun}"


def mib(result):
    return f"{result['extra_info']['peak_memory_bytes'] / MiB:.4g}"


def ratio(numerator, denominator):
    return f"{numerator / denominator:.3g}" if denominator else "n/a"


def target(info):
    """'cpu', 'cuda', 'cuda-bfloat16': the device and, unless float32, the dtype
    (runs from before the dtype was recorded were float32)."""
    return cases.device_dtype_id(info["device"], info.get("dtype", "float32"))


def op_rows(results):
    """{(target, op, pass): {case_id: {implementation: result}}}, and the cases by id."""
    tables = collections.defaultdict(lambda: collections.defaultdict(dict))
    op_cases = {}
    for result in results:
        info = result["extra_info"]
        if "op" in info:
            tables[target(info), info["op"], info["pass_"]][info["case_id"]][info["implementation"]] = result
            op_cases[info["case_id"]] = cases.OpCase(**info["case"])
    return tables, op_cases


def roofline_table(results):
    """Fused ncc_summary against the GEMM rate and copy bandwidth measured in
    the same dtype on the same device, where both were measured."""
    rates = {}
    for result in results:
        info = result["extra_info"]
        if "rate" in info:
            work = info["flops"] if info["rate"] == "gemm" else info["bytes"]
            rates[target(info), info["rate"]] = (work / result["stats"]["median"], result)
    rows = []
    for result in results:
        info = result["extra_info"]
        # Only calls known to have taken the fused order (runs before the order
        # was recorded are left out: on the CPU, tiny maps materialise).
        if info.get("op") != "ncc_summary" or info["implementation"] != "fused" or info.get("contraction") != "fused":
            continue
        key = target(info)
        if (key, "gemm") not in rates or (key, "copy") not in rates:
            continue
        case = cases.OpCase(**info["case"])
        work = roofline.ncc_summary_work(case, info["pass_"], getattr(torch, info.get("dtype", "float32")).itemsize)
        seconds = result["stats"]["median"]
        flops, moved = work.flops / seconds, work.bytes / seconds
        rows.append((key, info["pass_"], case.positions, case.id, (
            f"| {key} | {info['pass_'].replace('_', '+')} | {case.id} | {timing(result)} "
            f"| {flops / 1e9:.3g} | {flops / rates[key, 'gemm'][0]:.0%} "
            f"| {moved / 1e9:.3g} | {moved / rates[key, 'copy'][0]:.1%} |"
        )))
    if not rates:
        return ["No rates measured (benchmarks/test_roofline.py) in these runs.", ""]
    lines = [
        "Fused `ncc_summary` against what the device reaches: the FLOPs of its GEMMs and the bytes it "
        "must move (benchmarks/roofline.py) over its median time, as fractions of the rate of a square "
        f"GEMM (side {roofline.GEMM_SIZE['cpu']} on the CPU, {roofline.GEMM_SIZE['cuda']} on CUDA) and "
        "the bandwidth of a large copy, measured in the same dtype by benchmarks/test_roofline.py.",
        "",
    ]
    for (key, rate), (value, result) in sorted(rates.items()):
        what = f"GEMM rate {value / 1e9:.3g} GFLOP/s" if rate == "gemm" else f"copy bandwidth {value / 1e9:.3g} GB/s"
        lines.append(f"- {key}: {what} ({timing(result)} ms a call)")
    lines += [
        "",
        "| device | pass | case | ms | GFLOP/s | of GEMM rate | GB/s | of bandwidth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return lines + [row[-1] for row in sorted(rows)] + [""]


def op_table(device, op, pass_, by_case, op_cases):
    lines = [
        f"### {device}: `{op}` {pass_.replace('_', '+')}",
        "",
        "| stage | B | N | D | H x W | fused ms | reference ms | time fused/ref | fused MiB | reference MiB | memory fused/ref |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case_id, case in op_cases.items():
        measured = by_case.get(case_id, {})
        cells = []
        for implementation in cases.IMPLEMENTATIONS:
            result = measured.get(implementation)
            cells.append(
                (timing(result), mib(result)) if result
                else ((case.skip_reason(op, implementation) or "not run"), "-")
            )
        fused, reference = measured.get("fused"), measured.get("reference")
        both = fused and reference
        time_ratio = ratio(fused["stats"]["median"], reference["stats"]["median"]) if both else "-"
        memory_ratio = (
            ratio(fused["extra_info"]["peak_memory_bytes"], reference["extra_info"]["peak_memory_bytes"])
            if both else "-"
        )
        lines.append(
            f"| {case.stage} | {case.clips} | {case.frames} | {case.channels} | {case.height} x {case.width} "
            f"| {cells[0][0]} | {cells[1][0]} | **{time_ratio}** | {cells[0][1]} | {cells[1][1]} | **{memory_ratio}** |"
        )
    return lines


def paired_timing(times, run):
    """The median of a call's times in a paired benchmark, as timing() gives a benchmark's."""
    low, _, high = cases.quartiles(times)
    rerun = f" [run {run + 1}]" if run else ""
    return f"{ms(statistics.median(times))} ({ms(high - low)}, n={len(times)}){rerun}"


def paired_ratio(paired, numerator, denominator, target=None):
    """Two cells: the median of the per-round ratios numerator/denominator with
    their quartiles, and the target with whether that median meets it."""
    target_cell = "-" if target is None else f"<= {target}"
    if numerator not in paired or denominator not in paired:
        return "-", target_cell
    low, middle, high = cases.quartiles(cases.per_round_ratios(paired, numerator, denominator))
    if target is not None:
        target_cell += ": met" if middle <= target else ": not met"
    return f"**{middle:.3g}** ({low:.3g} to {high:.3g})", target_cell


def paired_results(results, key):
    """The paired benchmarks (test_layer, test_training_step) whose extra_info has key."""
    return [result for result in results if "paired_seconds" in result["extra_info"] and key in result["extra_info"]]


def layer_table(results):
    """test_layer: the fused layer, its reduction and the reference, timed in turn in each round."""
    by_device = collections.defaultdict(list)
    for result in paired_results(results, "case"):
        by_device[result["extra_info"]["device"]].append(result)
    if not by_device:
        return ["No layer benchmark in this run.", ""]
    lines = []
    for device, device_results in sorted(by_device.items()):
        lines += [
            f"### {device}: CosamLayer forward+backward, its reduction (conv1x1 + BN + ReLU) and the reference",
            "",
            "Each round times the fused layer, its reduction alone and the reference layer "
            "(`implementation=\"reference\"`) back to back on fresh inputs, in training mode, the order "
            "rotating; ratios are medians of the per-round ratios, quartiles in brackets. "
            "Targets: the project's, for the fused layer over its reduction.",
            "",
            "| stage | B | N | C | H x W | layer ms | reduction ms | reference ms | layer / reduction | target "
            "| reference / layer | peak MiB layer, reduction, reference |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for result in sorted(device_results, key=lambda r: r["extra_info"]["case"]["in_channels"]):
            info, paired = result["extra_info"], result["extra_info"]["paired_seconds"]
            case = cases.LayerCase(**info["case"])
            skipped, memory = info.get("skipped", {}), info.get("peak_memory_bytes", {})
            times = [
                paired_timing(paired[part], result["run"]) if part in paired else skipped.get(part, "not run")
                for part in cases.LAYER_PARTS
            ]
            peaks = ", ".join(f"{memory[part] / MiB:.4g}" if part in memory else "-" for part in cases.LAYER_PARTS)
            to_reduction, target = paired_ratio(
                paired, "layer_fused", "dim_reduction", cases.LAYER_RATIO_TARGETS.get(case.stage)
            )
            lines.append(
                f"| {case.stage} | {case.clips} | {case.frames} | {case.in_channels} | {case.height} x {case.width} "
                f"| {' | '.join(times)} | {to_reduction} | {target} "
                f"| {paired_ratio(paired, 'layer_reference', 'layer_fused')[0]} | {peaks} |"
            )
        lines.append("")
    return lines


def model_table(results):
    """test_training_step: ResNet50 with COSAM after the listed blocks and the
    plain model, timed in turn in each round."""
    lines = []
    for result in sorted(paired_results(results, "variants"), key=lambda r: r["group"]):
        info, paired = result["extra_info"], result["extra_info"]["paired_seconds"]
        lines += [
            f"### {result['group']}",
            "",
            "Each round runs one step of every model on the same batch, the order rotating; "
            "ratios are medians of the per-round ratios, quartiles in brackets. Targets: the project's.",
            "",
            "| COSAM after blocks | ms | time / plain | target |",
            "|---|---|---|---|",
        ]
        for name, blocks in info["variants"].items():
            to_plain, target = paired_ratio(paired, name, "plain", cases.MODEL_RATIO_TARGETS.get(name))
            lines.append(
                f"| {', '.join(map(str, blocks)) or 'none (plain ResNet50)'} "
                f"| {paired_timing(paired[name], result['run'])} | {to_plain} | {target} |"
            )
        lines.append("")
    return lines or ["No model benchmark in this run.", ""]


def header(runs):
    """runs: [(source, data)]; a later run's results replace an earlier one's."""
    sources = ", ".join(f"`{os.path.relpath(source, ROOT)}`" for source, _ in runs)
    lines = [
        "# cosam_ext benchmarks",
        "",
        f"Generated by `python benchmarks/report.py {' '.join(os.path.relpath(s, ROOT) for s, _ in runs)}` "
        f"from {sources}; every number below comes from those runs.",
    ]
    if len(runs) > 1:
        lines.append(
            "Where a later run measured a benchmark again, its figures replace the earlier run's, "
            "and the time is marked [run k]."
        )
    for index, (source, data) in enumerate(runs):
        lines += ["", f"Run {index + 1}:", ""] + run_description(data)
    return lines + [
        "",
        "Time: median over fresh random inputs per round, after one or two warm-up calls; "
        "(IQR, n = rounds) in brackets. Memory: peak growth during one call beyond its inputs "
        "(CPU: the peak of the bytes ATen's allocator holds, from the torch profiler's allocation events; "
        "CUDA: max_memory_allocated after a reset). Ratios below 1 favour fused. "
        "The ops take the reduced features x (B*N, D, H, W), weight (64, (N-1)*H*W); "
        "COSAM_4 and COSAM_5 with last stride 1 give the same op shape (COSAM_4/5s1), "
        "COSAM_5s2 is COSAM_5 with last stride 2.",
        "",
    ]


def run_description(data):
    machine = data["machine_info"]
    commit = data.get("commit_info", {})
    cpu = machine.get("cpu", {})
    return [
        f"- command: `{machine.get('command', '?')}`",
        f"- date: {data.get('datetime', '?')}",
        f"- machine: {cpu.get('brand_raw', machine.get('processor', '?'))}, {cpu.get('count', '?')} cores, "
        f"{machine.get('platform', machine.get('system', '?'))}; GPU: {machine.get('cuda_device') or 'none'}",
        f"- torch {machine.get('torch_version', '?')} ({machine.get('torch_threads', '?')} threads), "
        f"Python {machine.get('python_version', '?')}, cosam_ext from `{machine.get('cosam_ext_path', '?')}` "
        f"(library built {machine.get('cosam_ext_library_built', '?')}), "
        f"commit {commit.get('id', '?')[:10]}{' + uncommitted changes' if commit.get('dirty') else ''}",
        f"- load average (1, 5, 15 min) at start {_load(machine.get('load_average_start'))}, "
        f"at end {_load(machine.get('load_average_end'))} (the run itself keeps 2 threads busy)",
        f"- memory: {machine.get('memory', 'not recorded')}",
        f"- mode: {'SMOKE (tiny shapes, one round: not a measurement)' if machine.get('smoke') else 'full'}"
        f", {len(data['benchmarks'])} benchmarks",
    ]


def _load(values):
    return ", ".join(f"{value:.2f}" for value in values) if values else "?"


def chart(results, path):
    """Per-frame time and memory against map size, forward+backward, fused vs reference."""
    figure, axes = plt.subplots(2, len(cases.OPS), figsize=(11, 8), squeeze=False)
    series = collections.defaultdict(list)
    for result in results:
        info = result["extra_info"]
        if info.get("pass_") != "forward_backward":
            continue
        case = cases.OpCase(**info["case"])
        frames = case.clips * case.frames
        key = (info["op"], target(info), info["implementation"], case.frames)
        series[key].append(
            (case.positions, result["stats"]["median"] * 1e3 / frames, info["peak_memory_bytes"] / MiB / frames)
        )
    for (op, device, implementation, num_frames), points in sorted(series.items()):
        points.sort()
        column = cases.OPS.index(op)
        style = dict(
            color="tab:blue" if implementation == "fused" else "tab:red",
            linestyle="-" if num_frames == 4 else "--",
            marker="o" if device == "cpu" else "s",
            label=f"{implementation} N={num_frames} {device}",
        )
        for row in (0, 1):
            axes[row][column].plot([p[0] for p in points], [p[row + 1] for p in points], **style)
    for column, op in enumerate(cases.OPS):
        for row, what in enumerate(("time per frame (ms)", "peak memory per frame (MiB)")):
            axis = axes[row][column]
            axis.set(xscale="log", yscale="log", xlabel="map size H*W", ylabel=what, title=f"{op} forward+backward")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv):
    runs = []
    for source in argv[1:] or [latest_json()]:
        with open(source) as handle:
            runs.append((source, json.load(handle)))
    by_name = {}
    for index, (_, data) in enumerate(runs):
        for result in data["benchmarks"]:
            by_name[result["fullname"]] = dict(result, run=index)
    results = list(by_name.values())
    tables, op_cases = op_rows(results)
    lines = header(runs) + ["## The ops", ""]
    for device, op, pass_ in sorted(tables):
        lines += op_table(device, op, pass_, tables[device, op, pass_], op_cases) + [""]
    lines += ["## How close to the machine", ""] + roofline_table(results)
    lines += ["## The layer", ""] + layer_table(results)
    lines += ["## Model training step", ""] + model_table(results)
    lines += ["![time and memory against map size](chart.png)", ""]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as handle:
        handle.write("\n".join(lines))
    chart(results, os.path.join(HERE, "chart.png"))
    print(f"wrote benchmarks/RESULTS.md and benchmarks/chart.png from {', '.join(s for s, _ in runs)}")


if __name__ == "__main__":
    main(sys.argv)
