"""Does a held run's consistency objective, read early and without labels, tell which seeds the re-cluster will fail?

    python benchmarks/consistency_selection.py output/*/runs*/uniform_relaxed_consistency_floor \
        --results_from benchmarks/results/imbalanced-mnist-recluster*.json \
        --results benchmarks/results/imbalanced-mnist-consistency-selection.json

For each held run (`uniform_relaxed_consistency_floor/split-<k>/seed-<s>` under the folders given) it reads the
consistency term's objective as train.py logs it (`consistency/mutual_information` in metrics.jsonl: -(H(c | c') +
KL(shares || prior)), higher is more consistent) averaged over steps 800-1000 and 1800-2000, and from the results
files the accuracy of the variant branched from it (the modularity re-cluster by default). It prints and writes, per
window: the Spearman correlation between the objective and that accuracy over all runs, and, on the splits with two
seeds or more, the accuracy of the seed the objective would choose against the seeds' mean: the choice among seeds
that `--candidate_runs` makes, simulated on runs already trained. Labels enter only through the results files' scores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imbalanced_mnist import BRANCHES  # noqa: E402

from infogan_hub.evaluation import write_json  # noqa: E402

OBJECTIVE = "consistency/mutual_information"
WINDOWS = {"steps 800-1000": (800, 1000), "steps 1800-2000": (1800, 2000)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("held", nargs="+", type=Path, help="folders of a held variant's studies (split-<k>/seed-<s> below each)")
    parser.add_argument("--results_from", nargs="+", type=Path, required=True, help="the benchmark's results files holding the branches' runs")
    parser.add_argument("--variant", default="learned_late_prior_consistency_floor_recluster_modularity",
                        help="the branched variant whose accuracy the objective should foretell (a key of BRANCHES)")
    parser.add_argument("--results", type=Path, required=True, help="where to write the table (JSON)")
    args = parser.parse_args(argv)
    if args.variant not in BRANCHES:
        raise SystemExit(f"--variant must be a branched variant ({', '.join(sorted(BRANCHES))}), got {args.variant!r}.")
    return args


def window_mean(metrics: list[dict], low: int, high: int) -> float | None:
    values = [row[OBJECTIVE] for row in metrics if OBJECTIVE in row and low <= row["step"] <= high]
    return statistics.mean(values) if values else None


def choice_against_seeds(contested: dict[int, list[dict]], window: str) -> dict:
    """On the splits run with several seeds: the accuracy of the seed the objective in `window`
    chooses on each, mean and worst, beside all the seeds' (None where no split has several)."""
    if not contested:
        return dict.fromkeys(("chosen_accuracy_mean", "chosen_accuracy_worst", "seeds_accuracy_mean", "seeds_accuracy_worst"))
    chosen = [max(members, key=lambda run: run["objective"][window])["accuracy"] for members in contested.values()]
    return {"chosen_accuracy_mean": statistics.mean(chosen), "chosen_accuracy_worst": min(chosen),
            "seeds_accuracy_mean": statistics.mean(statistics.mean(run["accuracy"] for run in members) for members in contested.values()),
            "seeds_accuracy_worst": min(run["accuracy"] for members in contested.values() for run in members)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    accuracy = {}
    for path in args.results_from:
        for run in json.loads(path.read_text())["runs"]:
            if run["variant"] == args.variant:
                accuracy[(run["split"], run["seed"])] = run["accuracy"]
    runs = []
    for folder in args.held:
        for metrics_file in sorted(folder.glob("split-*/seed-*/metrics.jsonl")):
            split, seed = int(metrics_file.parts[-3].removeprefix("split-")), int(metrics_file.parts[-2].removeprefix("seed-"))
            if (split, seed) not in accuracy:
                continue  # its branch has not finished, or is in none of the results files
            metrics = [json.loads(line) for line in metrics_file.read_text().splitlines()]
            objective = {name: window_mean(metrics, *steps) for name, steps in WINDOWS.items()}
            runs.append({"split": split, "seed": seed, "held_run": str(metrics_file.parent), "accuracy": accuracy[(split, seed)], "objective": objective})
    if len(runs) < 3:
        raise SystemExit(f"Found {len(runs)} held runs with a finished {args.variant} branch under {', '.join(map(str, args.held))}: at least 3 are needed.")
    windows = {}
    for name in WINDOWS:
        scored = [run for run in runs if run["objective"][name] is not None]
        by_split = defaultdict(list)
        for run in scored:
            by_split[run["split"]].append(run)
        contested = {split: members for split, members in by_split.items() if len(members) > 1}
        windows[name] = {"runs": len(scored), "spearman": float(spearmanr([run["objective"][name] for run in scored], [run["accuracy"] for run in scored])[0]),
                         "splits_with_several_seeds": sorted(contested), **choice_against_seeds(contested, name)}  # fmt: skip
    record = {"variant": args.variant, "objective": OBJECTIVE, "runs": runs, "windows": windows}
    write_json(args.results, record)
    for run in sorted(runs, key=lambda run: run["accuracy"]):
        print(f"split {run['split']} seed {run['seed']}: {args.variant} {run['accuracy']:.3f}, objective "
              + ", ".join(f"{name} {value:.3f}" for name, value in run["objective"].items() if value is not None))
    for name, window in windows.items():
        line = f"{name}: Spearman {window['spearman']:.2f} over {window['runs']} runs"
        if window["chosen_accuracy_mean"] is not None:
            line += (f"; the seed it chooses on splits {window['splits_with_several_seeds']}: {window['chosen_accuracy_mean']:.3f} (worst "
                     f"{window['chosen_accuracy_worst']:.3f}) against the seeds' {window['seeds_accuracy_mean']:.3f} (worst {window['seeds_accuracy_worst']:.3f})")
        print(line)
    return record


if __name__ == "__main__":
    main()
