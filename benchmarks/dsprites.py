"""dSprites: our InfoGAN runs' disentanglement beside InfoGAN-CR's published table.

    python benchmarks/dsprites.py --runs output/dsprites-seed0 [output/dsprites-seed1 ...]

Each run is a `training/train.py --preset dsprites` output folder that
`python -m infogan_hub.disentanglement RUN --dataset dsprites` has measured (this script runs
the command where the results file is missing). Writes benchmarks/results/dsprites.json (per run:
MIG, FactorVAE score, DCI, steps, the fraction of the published schedule, wall time, code
revision; their mean, std, min and max) and prints the table with InfoGAN-CR's rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "training"))
import study as seed_study  # noqa: E402  for `describe` (mean, std, min, max)

from infogan_hub.disentanglement import RESULTS_FILE  # noqa: E402
from infogan_hub.dsprites import NUM_IMAGES  # noqa: E402
from infogan_hub.evaluation import write_json  # noqa: E402

RESULTS = REPOSITORY / "benchmarks" / "results" / "dsprites.json"
# InfoGAN-CR (Lin et al., ICML 2020) on dSprites, over 50 runs (std where we have it); 28 epochs of
# batch 64 (the repository's config: 322,560 steps).
PUBLISHED_STEPS = 28 * NUM_IMAGES // 64
PUBLISHED = [
    {"model": "InfoGAN (modified)", "factor_vae": (0.82, 0.01), "mig": (0.22, 0.01), "runs": 50, "schedule": f"28 epochs ({PUBLISHED_STEPS:,} steps)"},
    {"model": "InfoGAN-CR", "factor_vae": (0.88, None), "mig": (0.37, None), "runs": 50, "schedule": f"28 epochs ({PUBLISHED_STEPS:,} steps)"},
    {"model": "InfoGAN-CR, ModelCentrality selection", "factor_vae": (0.92, None), "mig": (0.45, None), "runs": 50, "schedule": f"28 epochs ({PUBLISHED_STEPS:,} steps)"},
    {"model": "FactorVAE (gamma = 40)", "factor_vae": (0.82, None), "mig": (0.43, None), "runs": 50, "schedule": "its paper's"},
]


def run_record(run_dir: Path) -> dict:
    if not (run_dir / RESULTS_FILE).exists():
        subprocess.run([sys.executable, "-m", "infogan_hub.disentanglement", str(run_dir), "--dataset", "dsprites"], check=True)
    measured = json.loads((run_dir / RESULTS_FILE).read_text())
    evaluation = json.loads((run_dir / seed_study.RESULTS_FILE).read_text())
    config = json.loads((run_dir / seed_study.TRAINING_CONFIG_FILE).read_text())
    return {
        "run": str(run_dir), "seed": config["seed"], "steps": evaluation["step"],
        "published_schedule_fraction": evaluation["step"] / PUBLISHED_STEPS,
        "mig": measured["mig"], "factor_vae": measured["factor_vae"]["score"],
        "dci_disentanglement": measured["dci"]["disentanglement"], "dci_completeness": measured["dci"]["completeness"],
        "dci_informativeness": measured["dci"]["informativeness"],
        "codes": {code: entry["factor"] for code, entry in measured["codes"].items() if entry["leads_factor"]},
        "wall_seconds": evaluation["elapsed_seconds"], "code_revision": config["code_revision"],
        "spectral_norm": config.get("spectral_norm"),
    }  # fmt: skip


def table(benchmark: dict) -> str:
    rows = ["| model | runs | schedule | FactorVAE score | MIG | DCI disentanglement |", "| --- | --- | --- | --- | --- | --- |"]
    for entry in PUBLISHED:
        shown = {key: f"{entry[key][0]:.2f}" + (f" ± {entry[key][1]:.2f}" if entry[key][1] is not None else "") for key in ("factor_vae", "mig")}
        rows.append(f"| {entry['model']} (published) | {entry['runs']} | {entry['schedule']} | {shown['factor_vae']} | {shown['mig']} | |")
    summary, runs = benchmark["summary"], benchmark["runs"]
    steps = sorted({run["steps"] for run in runs})
    fraction = 100 * max(run["published_schedule_fraction"] for run in runs)
    rows.append(
        f"| InfoGAN, `dsprites` preset (ours, CPU) | {len(runs)} | {', '.join(f'{s:,}' for s in steps)} steps ({fraction:.1f}% of it) "
        f"| {summary['factor_vae']['mean']:.2f} ± {summary['factor_vae']['std']:.2f} (min {summary['factor_vae']['min']:.2f}) "
        f"| {summary['mig']['mean']:.2f} ± {summary['mig']['std']:.2f} (min {summary['mig']['min']:.2f}) "
        f"| {summary['dci_disentanglement']['mean']:.2f} ± {summary['dci_disentanglement']['std']:.2f} |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="training output folders of the dsprites preset")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = [run_record(run_dir) for run_dir in args.runs]
    metrics = ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness", "wall_seconds")
    benchmark = {
        "published": PUBLISHED, "published_steps": PUBLISHED_STEPS, "runs": runs,
        "summary": {metric: seed_study.describe([run[metric] for run in runs]) for metric in metrics},
    }  # fmt: skip
    write_json(args.results, benchmark)
    print(table(benchmark))
    return benchmark


if __name__ == "__main__":
    main()
