"""The seed-study command, run for real: two seeds, each a real `accelerate launch training/train.py`."""

import json
import subprocess
import sys

import torch

from .conftest import REPOSITORY, accelerate_env
from .test_train import SMALL

STUDY = [sys.executable, str(REPOSITORY / "training" / "study.py")]


def study(output_dir, *arguments, check=True):
    command = [*STUDY, "--preset", "mnist", "--seeds", "0", "1", "--output_dir", str(output_dir), "--eval_steps", "2",
               "--target_accuracy", "0.1", *arguments, "--", *SMALL, "--max_train_steps", "4", "--report_to", "none", "--checkpointing_steps", "2"]  # fmt: skip
    result = subprocess.run(command, env=accelerate_env(), cwd=REPOSITORY, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"study failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def test_a_two_seed_study_writes_per_seed_figures_a_summary_and_a_figure(tmp_path):
    result = study(tmp_path, "--parallel", "2", "--threads_per_run", "1")
    record = json.loads((tmp_path / "study.json").read_text())
    assert record["preset"] == "mnist" and record["dataset"] == "mnist" and record["seeds"] == [0, 1] and record["parallel_runs"] == 2
    assert record["train_arguments"][-6:] == ["--max_train_steps", "4", "--report_to", "none", "--checkpointing_steps", "2"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout.strip()
    assert record["code_revisions"][0] in (head, f"{head}-dirty")
    runs = {run["seed"]: run for run in record["runs"]}
    for seed, run in runs.items():
        results = json.loads((tmp_path / f"seed-{seed}" / "evaluation_results.json").read_text())
        assert run["accuracy"] == results["clustering"]["codes"]["categorical_0"]["accuracy"]
        assert 0 <= run["nmi"] <= 1 and -1 <= run["ari"] <= 1
        assert run["category_min_share"] == min(results["category_usage"]["codes"]["categorical_0"]["shares"])
        assert set(run["mutual_information_lower_bound"]) == {"categorical_0", "continuous_0", "continuous_1"}
        assert run["steps"] == 4 and run["wall_seconds"] > 0
        assert [row["step"] for row in run["evaluations"]] == [2, 4]
        assert run["evaluations"][0]["seconds"] < run["evaluations"][1]["seconds"] <= run["wall_seconds"]
        config = json.loads((tmp_path / f"seed-{seed}" / "training_config.json").read_text())
        assert config["seed"] == seed and config["command"].startswith("accelerate launch training/train.py")
        assert run["cpu_capability"] == config["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert runs[0]["accuracy"] != runs[1]["accuracy"] or runs[0]["nmi"] != runs[1]["nmi"]  # two different runs
    accuracies = [run["accuracy"] for run in runs.values()]
    summary = record["summary"]
    assert summary["accuracy"]["min"] == min(accuracies) and summary["accuracy"]["max"] == max(accuracies)
    assert abs(summary["accuracy"]["mean"] - sum(accuracies) / 2) < 1e-12
    assert summary["worst_seed"] == min(runs, key=lambda seed: runs[seed]["accuracy"])
    assert {"nmi", "ari", "wall_seconds", "lower_bound/categorical_0"} <= set(summary)
    assert (tmp_path / "study.png").stat().st_size > 5000
    assert result.stdout.strip().splitlines()[-1].startswith("mnist, 2 seeds: accuracy ")

    # The README's table and the model card read the study file.
    table = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "study_table.py"), str(tmp_path / "study.json")],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    row = next(line for line in table.splitlines() if line.startswith("| `mnist`"))
    assert f"{summary['accuracy']['mean']:.3f} ± {summary['accuracy']['std']:.3f}" in row and "| 0, 1 |" in row
    assert "| ClusterGAN, published (10 runs) | mnist | - | 0.91 ± 0.04 | - | 0.85 | 0.83 |" in table
    from infogan_hub.hub import main as hub

    hub([str(tmp_path / "seed-0"), "--repo_id", "user/study-test", "--card_only", "--study", str(tmp_path / "study.json")])
    card = (tmp_path / "seed-0" / "README.md").read_text()
    assert f"clustering accuracy: {100 * summary['accuracy']['mean']:.1f}% ± {100 * summary['accuracy']['std']:.1f}%" in card
    assert f"worst seed: {summary['worst_seed']}; this model: seed 0" in card and "Seeds 0, 1, preset `mnist`:" in card
    assert "categorical consistency on real images (IIC, Ji et al. 2019), weight 3.0" in card  # the preset's recipe
    assert "information term L_I (equation 5): lambda 1.0 for categorical codes" in card

    # Run again: finished seeds are not trained twice; a seed whose run was cut short resumes.
    (tmp_path / "seed-1" / "study_run_done.json").unlink()
    (tmp_path / "seed-1" / "evaluation_results.json").unlink()
    study(tmp_path, "--parallel", "1")
    assert "Resumed from" in (tmp_path / "seed-1" / "train.log").read_text()
    assert "Resumed from" not in (tmp_path / "seed-0" / "train.log").read_text()
    assert json.loads((tmp_path / "study.json").read_text())["runs"][0] == record["runs"][0]


def test_the_study_refuses_arguments_it_sets_itself(tmp_path):
    result = subprocess.run([*STUDY, "--output_dir", str(tmp_path), "--", "--seed", "3"], capture_output=True, text=True, cwd=REPOSITORY)
    assert result.returncode != 0 and "The study sets ['--seed'] itself" in result.stderr
