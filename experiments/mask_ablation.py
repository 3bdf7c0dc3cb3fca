"""The attention ablation at the mask setting (the packaged config `masks`:
ResNet18, COSAM_3 on 16x8 maps, 128x64 synthetic frames, trained on the CPU):
no COSAM, spatial attention only, channel attention only, both; several seeds
each; mAP, R1 and the mask AUC against the synthetic set's person
silhouettes, as mean, standard deviation and range over the seeds.

    python experiments/mask_ablation.py                   # 4 variants x seeds 1 2 3
    python experiments/mask_ablation.py --table           # the table of what the results file holds
    python experiments/mask_ablation.py --results experiments/results-mask-ablation-hard.json \\
        data.dataset_options.clutter=1 data.dataset_options.occlusion=1   # another setting

Each run is trained (a run interrupted resumes from its checkpoint), scored
and written to the results file at once; a rerun skips what the file already
holds. KEY=VALUE overrides apply to every run; a results file belongs to one
setting and refuses runs of another.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from cosam_reid.config import load_config
from cosam_reid.engine import train
from cosam_reid.evaluation import evaluate_checkpoint
from cosam_reid.evaluation.mask_quality import evaluate_checkpoint_masks

#: variant -> its overrides over the `masks` config.
VARIANTS = {
    "no COSAM": ["model.cosam_blocks=[]"],
    "spatial only": ["model.attention=spatial"],
    "channel only": ["model.attention=channel"],
    "both": ["model.attention=both"],
}
DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-mask-ablation.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="(default: %(default)s)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="(default: all)")
    parser.add_argument("--root", default="data", help="folder holding the datasets (default: %(default)s)")
    parser.add_argument("--runs", default="runs/mask_ablation",
                        help="where each run's checkpoint goes (default: %(default)s)")
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="results file (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="only print the table of the results file")
    parser.epilog = "KEY=VALUE arguments, anywhere on the line, set config keys over the masks config."
    # KEY=VALUE words are taken out first: --seeds and --variants take several values and would swallow them.
    argv = sys.argv[1:] if argv is None else list(argv)
    overrides = [word for word in argv if "=" in word and not word.startswith("-")]
    args = parser.parse_args([word for word in argv if word not in overrides])
    args.overrides = overrides
    results = read_results(args.results, args.overrides)
    if not args.table:
        run_ablation(args, results)
    print(markdown_table(results))


def read_results(path, overrides):
    if not os.path.exists(path):
        return {"setting": {"config": "masks", "overrides": list(overrides)}, "runs": {}}
    with open(path) as file:
        results = json.load(file)
    if results["setting"]["overrides"] != list(overrides):
        raise SystemExit(f"{path} holds runs with the overrides {results['setting']['overrides']}, not "
                         f"{list(overrides)}: pass those, or another --results file")
    return results


def write_results(path, results):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(results, file, indent=1)
    os.replace(temporary, path)  # an interrupted write leaves the previous file whole


def run_ablation(args, results):
    plan = [(variant, seed) for seed in args.seeds for variant in args.variants
            if f"{variant}/{seed}" not in results["runs"]]
    started = time.perf_counter()
    for variant, seed in tqdm(plan, desc="ablation runs", unit="run", file=sys.stdout):
        tqdm.write(f"\n=> {variant}, seed {seed}")
        output_dir = os.path.join(args.runs, f"{variant.replace(' ', '_')}-seed{seed}")
        config = load_config("masks", [f"data.root={args.root}", f"train.seed={seed}",
                                       f"train.output_dir={output_dir}", "train.resume=true",
                                       *VARIANTS[variant], *args.overrides])
        clock = time.perf_counter()
        trainer = train(config)
        train_seconds = time.perf_counter() - clock
        checkpoint = trainer.checkpoint_path
        reid = evaluate_checkpoint(checkpoint, config.evaluation, config.data.root)
        masks = None
        if config.model.cosam_blocks and config.model.attention != "channel":
            masks = evaluate_checkpoint_masks(checkpoint, config.evaluation, config.data.root).as_dict()
        results["runs"][f"{variant}/{seed}"] = {
            "variant": variant, "seed": seed, "mAP": reid.mAP, "R1": reid.cmc[1], "mINP": reid.mINP,
            "masks": masks, "train_seconds": round(train_seconds, 1), "steps": trainer.progress.global_step,
            "seconds": round(time.perf_counter() - clock, 1)}
        write_results(args.results, results)
        tqdm.write(f"   mAP {100 * reid.mAP:.2f}%, R1 {100 * reid.cmc[1]:.2f}%"
                   + "".join(f", {layer} AUC {scores['auc']:.3f}" for layer, scores in (masks or {}).items()))
    if plan:
        print(f"=> {len(plan)} runs in {(time.perf_counter() - started) / 60:.1f} min")


def spread(values, scale=1.0, digits=2):
    """'mean ± std (min-max)' over the seeds; the std is the sample one (n - 1)."""
    values = np.asarray(values, dtype=np.float64) * scale
    std = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.{digits}f} ± {std:.{digits}f} ({values.min():.{digits}f}-{values.max():.{digits}f})"


def markdown_table(results):
    runs = list(results["runs"].values())
    layers = sorted({layer for run in runs for layer in (run["masks"] or {})})
    header = ["variant", "seeds", "mAP %", "R1 %", *(f"{layer} mask AUC" for layer in layers),
              "train min per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in VARIANTS:
        mine = [run for run in runs if run["variant"] == variant]
        if not mine:
            continue
        cells = [variant, " ".join(str(run["seed"]) for run in sorted(mine, key=lambda run: run["seed"])),
                 spread([run["mAP"] for run in mine], 100), spread([run["R1"] for run in mine], 100)]
        for layer in layers:
            aucs = [run["masks"][layer]["auc"] for run in mine if run["masks"] and layer in run["masks"]]
            cells.append(spread(aucs, digits=3) if aucs else "-")
        cells.append(f"{np.mean([run['train_seconds'] for run in mine]) / 60:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    overrides = " ".join(results["setting"]["overrides"]) or "none"
    lines.append(f"\nSetting: config `{results['setting']['config']}`, overrides: {overrides}; "
                 f"mean ± sample std (min-max) over the seeds.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
