"""benchmarks/consistency_selection.py on held runs' logs written here: the objective it reads, the correlation and
the seed it would choose."""

import json
import sys

import pytest

from .conftest import REPOSITORY

VARIANT = "learned_late_prior_consistency_floor_recluster_modularity"


@pytest.fixture(scope="module")
def consistency_selection():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    import consistency_selection

    return consistency_selection


def held_run(folder, split, seed, objective_at_1000, objective_at_2000):
    run = folder / f"split-{split}" / f"seed-{seed}"
    run.mkdir(parents=True)
    rows = [{"step": step, "consistency/mutual_information": objective_at_1000 if step <= 1000 else objective_at_2000} for step in range(50, 2850, 50)]
    rows.insert(20, {"step": 1000, "eval/clustering_accuracy": 0.5})  # an evaluation line carries no objective
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_it_correlates_the_held_runs_early_objective_with_the_branch_s_accuracy_and_chooses_the_most_consistent_seed(consistency_selection, tmp_path):
    held = tmp_path / "uniform_relaxed_consistency_floor"
    branches = {(1, 0): 0.95, (1, 1): 0.60, (2, 0): 0.70, (2, 1): 0.90, (3, 0): 0.80}
    objectives = {(1, 0): (-0.7, -0.5), (1, 1): (-1.3, -0.9), (2, 0): (-0.8, -0.8), (2, 1): (-0.9, -0.6), (3, 0): (-1.0, -0.7)}
    for (split, seed), (early, late) in objectives.items():
        held_run(held, split, seed, early, late)
    held_run(held, 4, 0, -0.5, -0.4)  # its branch is in no results file: left out
    results = tmp_path / "benchmark.json"
    results.write_text(json.dumps({"runs": [{"variant": VARIANT, "split": split, "seed": seed, "accuracy": accuracy} for (split, seed), accuracy in branches.items()]
                                   + [{"variant": "uniform_relaxed_consistency_floor", "split": 4, "seed": 0, "accuracy": 0.99}]}))  # fmt: skip
    record = consistency_selection.main([str(held), "--results_from", str(results), "--results", str(tmp_path / "selection.json")])
    assert json.loads((tmp_path / "selection.json").read_text()) == record
    assert sorted((run["split"], run["seed"]) for run in record["runs"]) == sorted(branches)
    late, early = record["windows"]["steps 1800-2000"], record["windows"]["steps 800-1000"]
    assert late["spearman"] == pytest.approx(1.0) and early["spearman"] == pytest.approx(0.7)
    # on splits 1 and 2 the most consistent seed is chosen at steps 1800-2000 (0.95, 0.90); at steps 800-1000 split 2's worse one
    assert late["splits_with_several_seeds"] == [1, 2] and late["chosen_accuracy_mean"] == pytest.approx(0.925)
    assert early["chosen_accuracy_mean"] == pytest.approx(0.825) and early["seeds_accuracy_mean"] == pytest.approx(0.7875)
    assert early["chosen_accuracy_worst"] == pytest.approx(0.70) and early["seeds_accuracy_worst"] == pytest.approx(0.60)


def test_a_variant_that_does_not_branch_from_a_held_run_is_refused_with_the_ones_that_do(consistency_selection, tmp_path):
    with pytest.raises(SystemExit, match="--variant must be a branched variant .*learned_late_prior_consistency_floor_recluster_modularity"):
        consistency_selection.main([str(tmp_path), "--results_from", str(tmp_path / "none.json"), "--results", str(tmp_path / "out.json"), "--variant", "uniform"])


def test_the_choice_is_weighed_only_on_splits_with_several_seeds_and_takes_the_most_consistent(consistency_selection):
    keys = ["chosen_accuracy_mean", "chosen_accuracy_worst", "seeds_accuracy_mean", "seeds_accuracy_worst"]
    assert consistency_selection.choice_against_seeds({}, "steps 800-1000") == dict.fromkeys(keys)
    one = {"accuracy": 0.6, "objective": {"steps 800-1000": -0.5}}
    other = {"accuracy": 0.9, "objective": {"steps 800-1000": -0.9}}
    assert consistency_selection.choice_against_seeds({7: [one, other]}, "steps 800-1000") == {
        "chosen_accuracy_mean": 0.6, "chosen_accuracy_worst": 0.6, "seeds_accuracy_mean": pytest.approx(0.75), "seeds_accuracy_worst": 0.6}  # fmt: skip
