"""A seed study: the same recipe trained from several seeds, reported as a distribution.

    python training/study.py --preset mnist --seeds 0 1 2 3 4 --output_dir output/study-mnist [-- extra train.py arguments]

runs the real `accelerate launch training/train.py` once per seed (into OUTPUT_DIR/seed-N, resuming
whatever an interrupted study left), then writes OUTPUT_DIR/study.json (per seed: clustering
accuracy, NMI, ARI, L_I per code, steps, wall seconds, the first evaluation at the target accuracy;
a summary of each as mean, std, min and max; the code revision), draws OUTPUT_DIR/study.png
(accuracy against training time, a line per seed) and prints a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infogan_hub.evaluation import METRICS_FILE, RESULTS_FILE, TRAINING_CONFIG_FILE, best_clustering_scores, write_json

TRAIN_SCRIPT = Path(__file__).parent / "train.py"
STUDY_FILE, FIGURE_FILE, LOG_FILE = "study.json", "study.png", "train.log"
# A run is finished when train.py exits 0; this marker, written then, lets a resumed study skip it.
DONE_FILE = "study_run_done.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_arguments = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mnist", help="a preset of training/configs or a JSON file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=None,
                        help="runs at a time (default: one per CPU core, each with one thread; on a GPU, up to 4)")
    parser.add_argument("--threads_per_run", type=int, default=None, help="CPU threads of each run (default: cores / parallel)")
    parser.add_argument("--eval_steps", type=int, default=500, help="evaluate every N steps, for the accuracy-over-time figure")
    parser.add_argument("--target_accuracy", type=float, default=0.95, help="report the first evaluated step at or above it")
    parser.add_argument("--summarize_only", action="store_true", help="write study.json from finished runs, train nothing")
    args = parser.parse_args(own)
    args.train_arguments = train_arguments
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"--seeds must be distinct, got {args.seeds}.")
    reserved = {"--seed", "--output_dir", "--preset", "--resume_from_checkpoint", "--eval_steps"}
    if clashes := sorted(reserved & {argument.split("=")[0] for argument in train_arguments}):
        raise SystemExit(f"The study sets {clashes} itself; give the preset, seeds, output folder and evaluation interval as study arguments.")
    cuda = _cuda_available()
    cores = os.cpu_count() or 1
    args.parallel = args.parallel or (min(4, len(args.seeds)) if cuda else max(1, min(cores, len(args.seeds))))
    args.threads_per_run = args.threads_per_run or max(1, cores // args.parallel)
    if args.parallel < 1 or args.threads_per_run < 1:
        raise SystemExit(f"--parallel and --threads_per_run must be at least 1, got {args.parallel} and {args.threads_per_run}.")
    args.device = "cuda" if cuda else "cpu"
    return args


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run_seed(args: argparse.Namespace, seed: int) -> None:
    """Trains one seed with the real `accelerate launch`, resuming its folder; raises if it fails."""
    run_dir = args.output_dir / f"seed-{seed}"
    if (run_dir / DONE_FILE).exists():
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
        "--dynamo_backend", "no", "--num_cpu_threads_per_process", str(args.threads_per_run),
        str(TRAIN_SCRIPT), "--preset", args.preset, "--seed", str(seed), "--output_dir", str(run_dir),
        "--resume_from_checkpoint", "latest", "--eval_steps", str(args.eval_steps), *args.train_arguments,
    ]  # fmt: skip
    environment = dict(os.environ)
    if args.device == "cpu":
        environment["ACCELERATE_USE_CPU"] = "1"
    started = time.monotonic()
    with open(run_dir / LOG_FILE, "a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment).returncode
    if returncode != 0:
        raise RuntimeError(f"seed {seed} failed (exit {returncode}); see {run_dir / LOG_FILE}")
    (run_dir / DONE_FILE).write_text(json.dumps({"launch_wall_seconds": time.monotonic() - started}))
    print(f"seed {seed} finished in {time.monotonic() - started:.0f} s", flush=True)


def seed_record(run_dir: Path, seed: int, target_accuracy: float) -> dict:
    """One finished run's figures, read from the files train.py wrote."""
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    evaluations = [row for row in _metrics(run_dir) if "eval/elapsed_seconds" in row]
    reached = next((row for row in evaluations if row.get("eval/clustering_accuracy", 0) >= target_accuracy), None)
    config = json.loads((run_dir / TRAINING_CONFIG_FILE).read_text())
    return {
        "seed": seed,
        "code_revision": config["code_revision"],
        # a seed's run differs between machines: which CPU kernels ran (None for runs before d09b22d)
        "cpu_capability": config.get("cpu_capability"),
        **(best_clustering_scores(results) or {}),
        "mutual_information_lower_bound": results["mutual_information_lower_bound"],
        # label-free: the smallest share of test images any category of the first code receives
        "category_min_share": next(iter(results.get("category_usage", {}).get("codes", {}).values()), {}).get("min_share"),
        "steps": results["step"],
        "wall_seconds": results["elapsed_seconds"],
        "first_step_at_target": None if reached is None else reached["step"],
        "first_seconds_at_target": None if reached is None else reached["eval/elapsed_seconds"],
        "evaluations": [
            {"step": row["step"], "seconds": row["eval/elapsed_seconds"], "accuracy": row.get("eval/clustering_accuracy")}
            for row in evaluations
        ],
    }


def _metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / METRICS_FILE).read_text().splitlines() if (run_dir / METRICS_FILE).exists() else []
    return [json.loads(line) for line in lines]


def describe(values: list[float]) -> dict:
    """Mean, sample standard deviation, min and max."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def summarize(runs: list[dict]) -> dict:
    figures = {metric: [run[metric] for run in runs if run.get(metric) is not None] for metric in ("accuracy", "nmi", "ari", "wall_seconds", "steps")}
    for name in runs[0]["mutual_information_lower_bound"]:
        figures[f"lower_bound/{name}"] = [run["mutual_information_lower_bound"][name] for run in runs]
    summary = {metric: describe(values) for metric, values in figures.items() if values}
    if "accuracy" in figures and figures["accuracy"]:
        summary["worst_seed"] = min(runs, key=lambda run: run["accuracy"])["seed"]
    summary["seeds_at_target"] = sum(run["first_step_at_target"] is not None for run in runs)
    return summary


def one_line(study: dict) -> str:
    summary, parts = study["summary"], [f"{study['preset']}, {len(study['runs'])} seeds:"]
    if "accuracy" in summary:
        accuracy = summary["accuracy"]
        parts.append(
            f"accuracy {100 * accuracy['mean']:.1f} ± {100 * accuracy['std']:.1f}% "
            f"(min {100 * accuracy['min']:.1f}%, seed {summary['worst_seed']}; max {100 * accuracy['max']:.1f}%),"
            f" NMI {summary['nmi']['mean']:.3f}, ARI {summary['ari']['mean']:.3f},"
        )
    bounds = [f"{key.split('/')[1]} {value['mean']:.3f}" for key, value in summary.items() if key.startswith("lower_bound/categorical")]
    if bounds:
        parts.append("L_I " + ", ".join(bounds) + " nats,")
    wall = summary["wall_seconds"]
    parts.append(f"wall {wall['mean'] / 60:.1f} ± {wall['std'] / 60:.1f} min (max {wall['max'] / 60:.1f});")
    parts.append(f"{summary['seeds_at_target']}/{len(study['runs'])} reached {100 * study['target_accuracy']:.0f}%")
    return " ".join(parts)


def draw_figure(study: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for run in study["runs"]:
        points = [(row["seconds"] / 60, 100 * row["accuracy"]) for row in run["evaluations"] if row["accuracy"] is not None]
        if points:
            axes.plot(*zip(*points), marker="o", markersize=3, label=f"seed {run['seed']}")
    axes.axhline(100 * study["target_accuracy"], color="grey", linestyle="--", linewidth=1)
    axes.set(xlabel="training wall time (minutes)", ylabel="clustering accuracy (%)", title=f"Seed study: {study['preset']}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if not args.summarize_only:
        with ThreadPoolExecutor(args.parallel) as pool:  # each thread waits on one training process
            for future in [pool.submit(run_seed, args, seed) for seed in args.seeds]:
                future.result()
    finished = [seed for seed in args.seeds if (args.output_dir / f"seed-{seed}" / DONE_FILE).exists()]
    if not finished:
        raise SystemExit(f"No finished run in {args.output_dir} for seeds {args.seeds}.")
    study = {
        "preset": args.preset,
        "seeds": finished,
        "train_arguments": args.train_arguments,
        "device": args.device,
        "parallel_runs": args.parallel,
        "threads_per_run": args.threads_per_run,
        "target_accuracy": args.target_accuracy,
        "runs": [seed_record(args.output_dir / f"seed-{seed}", seed, args.target_accuracy) for seed in finished],
    }
    study["code_revisions"] = sorted({run["code_revision"] for run in study["runs"]})
    study["dataset"] = json.loads((args.output_dir / f"seed-{finished[0]}" / TRAINING_CONFIG_FILE).read_text())["dataset"]
    study["summary"] = summarize(study["runs"])
    write_json(args.output_dir / STUDY_FILE, study)
    draw_figure(study, args.output_dir / FIGURE_FILE)
    print(one_line(study))
    return study


if __name__ == "__main__":
    main()
