"""The README's table of seed studies, printed from the committed study files.

    python benchmarks/study_table.py [benchmarks/results/study-*.json ...]

One row per study (mean ± std over its seeds, the worst seed, wall time per run), with
ClusterGAN's published 10-run figures beside them for reference (Mukherjee et al. 2019, Table 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"
# Published, not measured here: ClusterGAN's mean (± std where given) over 10 runs.
CLUSTERGAN = {
    "mnist": {"accuracy": "0.91 ± 0.04", "nmi": "0.85", "ari": "0.83"},
    "fashion_mnist": {"accuracy": "0.61 ± 0.02", "nmi": "0.62", "ari": "0.46"},
}


def _mean_std(figures: dict, digits: int = 3) -> str:
    return f"{figures['mean']:.{digits}f} ± {figures['std']:.{digits}f}"


def table(studies: list[tuple[str, dict]]) -> str:
    rows = [
        "| recipe | data | seeds | accuracy | worst seed | NMI | ARI | L_I (nats) | minutes per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    datasets = []
    for name, study in studies:
        summary, dataset = study["summary"], study["dataset"]
        datasets.append(dataset)
        worst = min(study["runs"], key=lambda run: run["accuracy"])
        bound = summary.get("lower_bound/categorical_0")
        wall = summary["wall_seconds"]
        rows.append(
            f"| `{study['preset']}`{'' if name == study['preset'] else f' ({name})'} | {dataset} | {', '.join(str(run['seed']) for run in study['runs'])} "
            f"| {_mean_std(summary['accuracy'])} | {worst['accuracy']:.3f} (seed {worst['seed']}) "
            f"| {_mean_std(summary['nmi'])} | {_mean_std(summary['ari'])} | {_mean_std(bound) if bound else '-'} "
            f"| {wall['mean'] / 60:.1f} (max {wall['max'] / 60:.1f}) |"
        )
    for dataset in dict.fromkeys(datasets):
        if published := CLUSTERGAN.get(dataset):
            rows.append(f"| ClusterGAN, published (10 runs) | {dataset} | - | {published['accuracy']} | - | {published['nmi']} | {published['ari']} | - | - |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="*", type=Path, help="study files (default: benchmarks/results/study-*.json)")
    args = parser.parse_args(argv)
    paths = args.studies or sorted(RESULTS_DIR.glob("study-*.json"))
    if not paths:
        raise SystemExit(f"No study files given or found in {RESULTS_DIR}; run training/study.py first.")
    print(table([(path.stem.removeprefix("study-"), json.loads(path.read_text())) for path in paths]))


if __name__ == "__main__":
    main()
