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
setting (the overrides and the synthetic generator's version) and refuses
runs of another. The table gives, beside the mean and spread over the seeds,
the masks' separation |AUC - 0.5| (which says how strongly they tell the
person apart, whichever way round), their AUC of the person against clutter
where the set draws clutter, and Welch's t-test of "both" against "no COSAM".
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from scipy import stats
from tqdm import tqdm

from cosam_reid.config import load_config
from cosam_reid.datasets.synthetic import GENERATOR_VERSION
from cosam_reid.datasets import build_dataset
from cosam_reid.engine import initial_model, train
from cosam_reid.evaluation import evaluate_checkpoint
from cosam_reid.evaluation.mask_quality import dataset_mask_quality, evaluate_checkpoint_masks
from cosam_reid.memory import keep_freed_memory

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
    parser.add_argument("--runs", default=f"runs/mask_ablation/generator{GENERATOR_VERSION}",
                        help="where each run's checkpoint goes (default: %(default)s)")
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="results file (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="only print the table of the results file")
    parser.add_argument("--initial", action="store_true",
                        help="also score the masks of each run's model as built, before its first step (seeded "
                             "as the run), beside the trained ones")
    parser.epilog = "KEY=VALUE arguments, anywhere on the line, set config keys over the masks config."
    # KEY=VALUE words are taken out first: --seeds and --variants take several values and would swallow them.
    argv = sys.argv[1:] if argv is None else list(argv)
    overrides = [word for word in argv if "=" in word and not word.startswith("-")]
    args = parser.parse_args([word for word in argv if word not in overrides])
    args.overrides = overrides
    results = read_results(args.results, args.overrides)
    if not args.table:
        check_generator(args.results, results)
        keep_freed_memory()  # as the cosam-reid command does
        run_ablation(args, results)
        if args.initial:
            score_initial_masks(args, results)
    print(markdown_table(results))


def read_results(path, overrides):
    if not os.path.exists(path):
        return {"setting": {"config": "masks", "generator": GENERATOR_VERSION, "overrides": list(overrides)},
                "runs": {}}
    with open(path) as file:
        results = json.load(file)
    if results["setting"]["overrides"] != list(overrides):
        raise SystemExit(f"{path} holds runs with the overrides {results['setting']['overrides']}, not "
                         f"{list(overrides)}: pass those, or another --results file")
    return results


def generator_of(results):
    return results["setting"].get("generator", 1)  # the first files did not record it


def check_generator(path, results):
    """New runs go only to a file of the current generator's runs (its table still prints)."""
    if generator_of(results) != GENERATOR_VERSION:
        raise SystemExit(f"{path} holds runs on synthetic generator {generator_of(results)}, this one is "
                         f"{GENERATOR_VERSION}: pass another --results file")


def write_results(path, results):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(results, file, indent=1)
    os.replace(temporary, path)  # an interrupted write leaves the previous file whole


def run_config(args, variant, seed):
    output_dir = os.path.join(args.runs, f"{variant.replace(' ', '_')}-seed{seed}")
    return load_config("masks", [f"data.root={args.root}", f"train.seed={seed}", f"train.output_dir={output_dir}",
                                 "train.resume=true", *VARIANTS[variant], *args.overrides])


def has_spatial_masks(config):
    return bool(config.model.cosam_blocks) and config.model.attention != "channel"


def run_ablation(args, results):
    plan = [(variant, seed) for seed in args.seeds for variant in args.variants
            if f"{variant}/{seed}" not in results["runs"]]
    started = time.perf_counter()
    for variant, seed in tqdm(plan, desc="ablation runs", unit="run", file=sys.stdout):
        tqdm.write(f"\n=> {variant}, seed {seed}")
        config = run_config(args, variant, seed)
        clock = time.perf_counter()
        trainer = train(config)
        train_seconds = time.perf_counter() - clock
        checkpoint = trainer.checkpoint_path
        reid = evaluate_checkpoint(checkpoint, config.evaluation, config.data.root)
        masks = None
        if has_spatial_masks(config):
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


def score_initial_masks(args, results):
    """Scores the masks of the model each run starts from (seeded and built
    as train() does, evaluated as the trained one) into its "initial_masks"."""
    plan = [key for key in (f"{variant}/{seed}" for seed in args.seeds for variant in args.variants)
            if key in results["runs"] and "initial_masks" not in results["runs"][key]]
    for key in tqdm(plan, desc="initial masks", unit="run", file=sys.stdout):
        run = results["runs"][key]
        config = run_config(args, run["variant"], run["seed"])
        masks = None
        if has_spatial_masks(config):
            train_set = build_dataset(config.data.dataset, config.data.root, **config.data.dataset_options)
            model = initial_model(config, train_set.num_train_pids, log=lambda *_: None)
            test_set = build_dataset(config.evaluation.dataset, config.data.root,
                                     **config.evaluation.dataset_options)
            masks = dataset_mask_quality(model, test_set, clips_per_batch=config.evaluation.clips_per_batch,
                                         progress=False).as_dict()
        run["initial_masks"] = masks
        write_results(args.results, results)


def spread(values, scale=1.0, digits=2):
    """'mean ± std (min-max)' over the seeds; the std is the sample one (n - 1)."""
    values = np.asarray(values, dtype=np.float64) * scale
    std = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.{digits}f} ± {std:.{digits}f} ({values.min():.{digits}f}-{values.max():.{digits}f})"


def mask_scores(run, layer, key, when="masks"):
    """A mask score of a run's trained model, or (when="initial_masks") of the model it started from."""
    scores = (run.get(when) or {}).get(layer, {})
    return scores.get(key)


def markdown_table(results):
    runs = list(results["runs"].values())
    layers = sorted({layer for run in runs for layer in (run["masks"] or {})})
    clutter = any(mask_scores(run, layer, "auc_clutter") is not None for run in runs for layer in layers)
    initial = any(mask_scores(run, layer, "auc", "initial_masks") is not None for run in runs for layer in layers)
    # (heading, layer, transform, score, of the trained model or the initial one)
    mask_columns = [(f"{layer} mask AUC", layer, lambda auc: auc, "auc", "masks") for layer in layers]
    if initial:
        mask_columns += [(f"{layer} mask AUC before training", layer, lambda auc: auc, "auc", "initial_masks")
                         for layer in layers]
    mask_columns += [(f"{layer} abs(AUC - 0.5)", layer, lambda auc: abs(auc - 0.5), "auc", "masks")
                     for layer in layers]
    if clutter:
        mask_columns += [(f"{layer} AUC person vs clutter", layer, lambda auc: auc, "auc_clutter", "masks")
                         for layer in layers]
    header = ["variant", "seeds", "mAP %", "R1 %", *(name for name, *_ in mask_columns), "train min per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in VARIANTS:
        mine = [run for run in runs if run["variant"] == variant]
        if not mine:
            continue
        cells = [variant, " ".join(str(run["seed"]) for run in sorted(mine, key=lambda run: run["seed"])),
                 spread([run["mAP"] for run in mine], 100), spread([run["R1"] for run in mine], 100)]
        for _, layer, transform, key, when in mask_columns:
            values = [transform(value) for run in mine
                      if (value := mask_scores(run, layer, key, when)) is not None and np.isfinite(value)]
            cells.append(spread(values, digits=3) if values else "-")
        cells.append(f"{np.mean([run['train_seconds'] for run in mine]) / 60:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    overrides = " ".join(results["setting"]["overrides"]) or "none"
    lines.append(f"\nSetting: config `{results['setting']['config']}`, synthetic generator "
                 f"{generator_of(results)}, overrides: {overrides}; mean ± sample std (min-max) over the seeds.")
    lines.extend(welch_lines(runs))
    lines.extend(initial_lines(runs, layers))
    return "\n".join(lines)


def welch_lines(runs):
    """Welch's t-test (unequal variances) of "both" against "no COSAM", for
    mAP and R1, where each has two seeds or more."""
    both = [run for run in runs if run["variant"] == "both"]
    plain = [run for run in runs if run["variant"] == "no COSAM"]
    if len(both) < 2 or len(plain) < 2:
        return []
    lines = []
    for metric in ("mAP", "R1"):
        test = stats.ttest_ind([run[metric] for run in both], [run[metric] for run in plain], equal_var=False)
        difference = 100 * (np.mean([run[metric] for run in both]) - np.mean([run[metric] for run in plain]))
        lines.append(f"Welch's t-test, {metric} of both against no COSAM: difference {difference:+.2f} points, "
                     f"t = {test.statistic:.2f}, p = {test.pvalue:.3f} ({len(both)} and {len(plain)} seeds).")
    return lines


def initial_lines(runs, layers):
    """Spearman's rank correlation, over the runs scored before training too
    (five or more), of each layer's mask AUC before and after training:
    whether the initialisation decides which way round the masks come out."""
    lines = []
    for layer in layers:
        pairs = [(before, after) for run in runs
                 if (before := mask_scores(run, layer, "auc", "initial_masks")) is not None
                 and (after := mask_scores(run, layer, "auc")) is not None]
        if len(pairs) >= 5:  # fewer runs make any ranking look perfect or random
            test = stats.spearmanr(*zip(*pairs))
            lines.append(f"Spearman's rank correlation of the {layer} mask AUC before and after training: "
                         f"rho = {test.statistic:.2f}, p = {test.pvalue:.3f} ({len(pairs)} runs).")
    return lines


if __name__ == "__main__":
    main()
