"""The imbalanced-MNIST benchmark, run for real: two variants on one split, each a real training run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .conftest import REPOSITORY, accelerate_env
from .test_train import SMALL, weights


@pytest.fixture(scope="module")
def imbalanced_mnist():
    """benchmarks/imbalanced_mnist.py as a module, for the tests that call its functions directly."""
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    import imbalanced_mnist

    return imbalanced_mnist


def test_the_benchmark_trains_each_variant_on_the_split_and_reports_the_priors_distance(imbalanced_mnist, tmp_path):
    # two studies at a time, one core each
    results = tmp_path / "imbalanced.json"
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "imbalanced_mnist.py"), "--splits", "1", "--seeds", "0",
               "--variants", "uniform", "learned", "--steps", "4", "--parallel", "2", "--output_dir", str(tmp_path / "runs"), "--results", str(results),
               "--", *SMALL, "--report_to", "none"]  # fmt: skip
    output = subprocess.run(command, env=accelerate_env(), cwd=REPOSITORY, capture_output=True, text=True)
    assert output.returncode == 0, output.stderr[-4000:]
    benchmark = json.loads(results.read_text())
    runs = {run["variant"]: run for run in benchmark["runs"]}
    assert set(runs) == {"uniform", "learned"} and benchmark["steps"] == 4
    for variant, run in runs.items():
        run_dir = tmp_path / "runs" / variant / "split-1" / "seed-0"
        evaluation = json.loads((run_dir / "evaluation_results.json").read_text())
        assert evaluation["clustering"]["dataset"] == "mnist_imbalanced_1/test" and evaluation["step"] == 4
        assert run["prior_total_variation"] == evaluation["clustering"]["codes"]["categorical_0"]["prior_total_variation"]
        assert run["ent"] == evaluation["generation"]["codes"]["categorical_0"]["ent"]
        assert 0 <= run["shares_total_variation"] <= 1
        shares = evaluation["category_usage"]["codes"]["categorical_0"]["shares"]
        prior = run["prior"] or [0.1] * 10  # the uniform prior's distance for the uniform variant
        assert run["prior_to_shares_total_variation"] == pytest.approx(0.5 * sum(abs(p - q) for p, q in zip(prior, shares)))
        assert run["min_share"] == min(shares) == evaluation["category_usage"]["codes"]["categorical_0"]["min_share"]
        kernels = json.loads((run_dir / "training_config.json").read_text())["cpu_capability"]
        assert run["cpu_capability"] == kernels and isinstance(kernels, str) and kernels  # e.g. "AVX2", "AVX512": the machine's part in a seed's result
    # the classes that share a category, each a quarter of it or more, largest first; a tenth is not enough
    evaluation["clustering"]["codes"]["categorical_0"]["matrix"] = [[0, 0, 0, 0, 40, 0, 0, 0, 0, 60], [85, 15, 0, 0, 0, 0, 0, 0, 0, 0], *[[0] * 10] * 8]
    (run_dir / "evaluation_results.json").write_text(json.dumps(evaluation))
    assert imbalanced_mnist.run_record(run_dir, "learned", 1, 0)["two_class_categories"] == [[9, 4]]
    frequencies = runs["uniform"]["class_frequencies"]
    assert max(frequencies) / min(frequencies) > 2  # the split is imbalanced
    assert runs["uniform"]["prior"] is None and len(runs["learned"]["prior"]) == 10
    assert "| learned | 1 |" in output.stdout and "| uniform | 1 |" in output.stdout
    assert "| variant | runs whose categories part every class |" in output.stdout
    # each variant against the uniform prior of its preset, pair by pair
    gain = benchmark["paired_gains"]["learned"]
    assert set(benchmark["paired_gains"]) == {"learned"} and gain["baseline"] == "uniform" and gain["pairs"] == 1
    assert gain["accuracy"]["mean"] == runs["learned"]["accuracy"] - runs["uniform"]["accuracy"]
    assert gain["nmi"]["wins"] == int(runs["learned"]["nmi"] > runs["uniform"]["nmi"])
    assert "| learned | uniform | 1 |" in output.stdout
    # the targets, printed: one split and one pair cannot meet them
    verdict = benchmark["targets"]["learned"]
    assert verdict["prior_total_variation_over_splits"] == runs["learned"]["prior_total_variation"] and not verdict["beats_uniform_met"]
    assert "averaged over the splits (target ≤ 0.05)" in output.stdout and "| learned | 1 |" in output.stdout.split("target ≤ 0.05")[1]
    assert results.with_suffix(".png").stat().st_size > 5000

    # runs finished on another machine stay in the results file; one finished here again replaces its copy
    elsewhere = [runs["uniform"] | {"seed": 7, "accuracy": 0.5}, runs["uniform"] | {"accuracy": -1.0}]
    results.write_text(json.dumps(benchmark | {"runs": benchmark["runs"] + elsewhere}))
    seeds, extra = command.index("--seeds"), command.index("--")
    command = [*command[: seeds + 1], "0", "7", *command[seeds + 2 : extra], "--summarize_only", *command[extra:]]
    output = subprocess.run(command, env=accelerate_env(), cwd=REPOSITORY, capture_output=True, text=True)
    assert output.returncode == 0, output.stderr[-4000:]
    merged = json.loads(results.read_text())
    assert sorted((run["variant"], run["seed"]) for run in merged["runs"]) == [("learned", 0), ("uniform", 0), ("uniform", 7)]
    assert merged["summary"]["uniform"]["accuracy"]["mean"] == pytest.approx((runs["uniform"]["accuracy"] + 0.5) / 2)
    assert "| uniform | 2 |" in output.stdout
    # the file is rewritten with the runs asked for alone: asking for fewer than it records is refused
    unasked = results.read_text()
    output = subprocess.run([*command[: seeds + 1], "0", *command[seeds + 3 :]], env=accelerate_env(), cwd=REPOSITORY, capture_output=True, text=True)
    assert output.returncode != 0 and results.read_text() == unasked
    assert f"--results {results} records runs outside the variants, splits and seeds asked for (1: uniform split 1 seed 7): rewriting it would drop them." in output.stderr


def test_paired_gains_compare_each_variant_with_its_preset_s_uniform_prior_or_a_given_baseline_over_shared_pairs(imbalanced_mnist):
    def run(variant, split, seed, accuracy):
        return {"variant": variant, "split": split, "seed": seed, "accuracy": accuracy, "nmi": accuracy / 2}

    runs = [run("uniform_consistency", 0, 0, 0.5), run("uniform_consistency", 1, 0, 0.9), run("learned_consistency", 0, 0, 0.8),
            run("learned_consistency", 1, 0, 0.7), run("learned_prior_consistency", 0, 0, 0.9), run("learned_prior_consistency", 2, 0, 0.9),
            run("uniform", 0, 0, 0.6), run("learned_contrastive", 0, 0, 0.7)]  # fmt: skip
    variants = ["uniform", "uniform_consistency", "learned_consistency", "learned_prior_consistency", "learned_contrastive"]
    against_uniform = imbalanced_mnist.paired_gains(runs, variants)
    assert {variant: gain["baseline"] for variant, gain in against_uniform.items()} == {
        "learned_consistency": "uniform_consistency", "learned_prior_consistency": "uniform_consistency", "learned_contrastive": "uniform"}
    gain = against_uniform["learned_consistency"]
    assert gain["pairs"] == 2 and gain["accuracy"]["mean"] == pytest.approx(0.05) and gain["accuracy"]["wins"] == 1
    assert against_uniform["learned_prior_consistency"]["pairs"] == 1  # split 2 has no uniform run
    # a learned variant with another setting beside the prior is paired with the uniform prior under that setting;
    # that uniform variant with the plain uniform prior, and it gets no target verdict: it learns no prior
    lambdas = [run("uniform_consistency_lambda", 0, 0, 0.6), run("learned_prior_consistency_floor_lambda", 0, 0, 0.95)]
    named = ["uniform_consistency", "uniform_consistency_lambda", "learned_prior_consistency_floor_lambda"]
    with_lambda = imbalanced_mnist.paired_gains(runs + lambdas, named)
    assert {variant: gain["baseline"] for variant, gain in with_lambda.items()} == {
        "uniform_consistency_lambda": "uniform_consistency", "learned_prior_consistency_floor_lambda": "uniform_consistency_lambda"}
    assert with_lambda["learned_prior_consistency_floor_lambda"]["accuracy"]["mean"] == pytest.approx(0.35)
    distances = [run | {"prior_total_variation": 0.1} for run in runs + lambdas]
    assert list(imbalanced_mnist.targets(distances, with_lambda, [0])) == ["learned_prior_consistency_floor_lambda"]
    against_defaults = imbalanced_mnist.paired_gains(runs + lambdas, [*named, "learned_prior_consistency"], baseline="learned_prior_consistency")
    assert list(against_defaults) == ["learned_prior_consistency_floor_lambda"]  # a learned variant only, the uniform one under lambda not
    against_reference = imbalanced_mnist.paired_gains(runs, variants, baseline="learned_consistency")
    assert list(against_reference) == ["learned_prior_consistency"]  # not the uniform priors, not another preset's variant
    assert against_reference["learned_prior_consistency"]["accuracy"]["mean"] == pytest.approx(0.1)
    # against the paper's objective (the plain uniform prior, another preset) only when asked for, over the pairs both ran; the
    # uniform prior with the consistency term too, which tells what that term gains from what the learned prior adds
    consistency_variants = ["uniform_consistency", "learned_consistency", "learned_prior_consistency"]
    assert imbalanced_mnist.paired_gains(runs, consistency_variants, baseline="uniform") == {}
    against_paper = imbalanced_mnist.paired_gains(runs, consistency_variants, baseline="uniform", any_preset=True)
    assert list(against_paper) == consistency_variants
    assert against_paper["uniform_consistency"]["accuracy"]["mean"] == pytest.approx(-0.1)
    assert against_paper["learned_consistency"]["pairs"] == 1 and against_paper["learned_consistency"]["accuracy"]["mean"] == pytest.approx(0.2)


def test_targets_average_the_prior_s_distance_per_split_and_ask_for_gains_above_their_spread_on_every_split(imbalanced_mnist):
    def run(variant, split, seed, accuracy, distance):
        return {"variant": variant, "split": split, "seed": seed, "accuracy": accuracy, "nmi": accuracy, "prior_total_variation": distance}

    # split 0 run twice (0.02, 0.06: 0.04 for the split), split 1 once (0.07): 0.055 over the splits, not 0.05 over the runs
    runs = [run("uniform_consistency", 0, 0, 0.80, 0.2), run("uniform_consistency", 0, 1, 0.82, 0.2), run("uniform_consistency", 1, 0, 0.84, 0.2),
            run("learned_consistency", 0, 0, 0.90, 0.02), run("learned_consistency", 0, 1, 0.91, 0.06), run("learned_consistency", 1, 0, 0.95, 0.07)]  # fmt: skip
    gains = imbalanced_mnist.paired_gains(runs, ["uniform_consistency", "learned_consistency"])
    verdict = imbalanced_mnist.targets(runs, gains, [0, 1])["learned_consistency"]
    assert verdict["splits"] == [0, 1] and verdict["prior_total_variation_over_splits"] == pytest.approx(0.055)
    assert not verdict["prior_total_variation_met"]
    assert verdict["beats_uniform_met"] and verdict["pairs"] == 3  # gains 0.10, 0.09, 0.11: mean 0.10, spread 0.01
    closer = [r | {"prior_total_variation": r["prior_total_variation"] / 2} for r in runs]
    assert imbalanced_mnist.targets(closer, gains, [0, 1])["learned_consistency"]["prior_total_variation_met"]
    assert not imbalanced_mnist.targets(closer, gains, [0, 1, 2])["learned_consistency"]["prior_total_variation_met"]  # split 2 not run
    # a gain inside its spread, or from one pair alone, does not beat the uniform prior
    noisy = [*runs[:3], runs[3] | {"accuracy": 0.70}, *runs[4:]]
    assert not imbalanced_mnist.targets(noisy, imbalanced_mnist.paired_gains(noisy, ["uniform_consistency", "learned_consistency"]), [0, 1])["learned_consistency"]["beats_uniform_met"]
    alone = [runs[0], runs[3]]
    assert not imbalanced_mnist.targets(alone, imbalanced_mnist.paired_gains(alone, ["uniform_consistency", "learned_consistency"]), [0])["learned_consistency"]["beats_uniform_met"]
    # the baseline's mean + std (0.82 + 0.02) is what a variant with one accuracy on every pair needs: above it the gain beats its spread, below it not
    assert gains["learned_consistency"]["accuracy"]["needed_without_spread"] == pytest.approx(0.84)
    for accuracy, met in ((0.845, True), (0.835, False)):
        even = [*runs[:3], *(r | {"accuracy": accuracy, "nmi": accuracy} for r in runs[3:])]
        assert imbalanced_mnist.targets(even, imbalanced_mnist.paired_gains(even, ["uniform_consistency", "learned_consistency"]), [0, 1])["learned_consistency"]["beats_uniform_met"] is met


def test_parting_sorts_runs_by_whether_a_category_holds_two_classes_and_leaves_out_runs_without_the_matrix(imbalanced_mnist):
    def run(accuracy, distance, pairs):
        return {"variant": "learned", "split": 0, "seed": 0, "accuracy": accuracy, "prior_total_variation": distance, "two_class_categories": pairs}

    runs = [run(0.96, 0.02, []), run(0.94, 0.04, []), run(0.85, 0.10, [[4, 9]]), run(0.5, 0.5, None)]
    part = imbalanced_mnist.parting(runs)
    assert part["parted"]["runs"] == 2 and part["parted"]["accuracy"] == pytest.approx({"mean": 0.95, "std": 0.02**0.5 / 10, "min": 0.94, "max": 0.96})
    assert part["parted"]["prior_total_variation"] == pytest.approx({"mean": 0.03, "std": 0.02**0.5 / 10, "min": 0.02, "max": 0.04})
    assert part["merging"] == {"runs": 1, "accuracy": pytest.approx({"mean": 0.85, "std": 0.0, "min": 0.85, "max": 0.85}),
                               "prior_total_variation": pytest.approx({"mean": 0.10, "std": 0.0, "min": 0.10, "max": 0.10})}  # fmt: skip
    # the table gives the worst run beside mean ± std: the lowest accuracy, the largest distance
    measured = [dict.fromkeys(imbalanced_mnist.SUMMARY_FIGURES, 0.0) | run for run in runs[:3]]
    summary = imbalanced_mnist.summarize(measured, ["learned"])
    row = "| learned | 2 | 0.950 ± 0.014 (0.940) | 0.030 ± 0.014 (0.040) | 1 | 0.850 ± 0.000 (0.850) | 0.100 ± 0.000 (0.100) |"
    assert row in imbalanced_mnist.table({"summary": summary, "paired_gains": {}, "runs": measured})
    assert imbalanced_mnist.parting(runs[2:])["parted"] == {"runs": 0, "accuracy": None, "prior_total_variation": None}


def test_the_per_run_table_puts_each_split_and_seed_on_one_row_with_every_variant_s_run_beside_the_others(imbalanced_mnist):
    def run(variant, split, seed, accuracy, distance, pairs):
        return {"variant": variant, "split": split, "seed": seed, "accuracy": accuracy, "prior_total_variation": distance, "two_class_categories": pairs}

    runs = [run("uniform", 24, 1, 0.879, 0.2, [[4, 9]]), run("learned", 24, 1, 0.979, 0.021, []), run("learned", 3, 0, 0.5, 0.3, [[3, 5], [4, 9]]),
            run("uniform", 24, 0, 0.874, 0.19, None)]  # fmt: skip
    assert imbalanced_mnist.per_run_table(runs, ["uniform", "learned"]) == [
        "| split | seed | uniform | learned |", "| --- | --- | --- | --- |",
        "| 3 | 0 |  | 50.0%, 0.300, 3+5 4+9 |", "| 24 | 0 | 87.4%, 0.190 |  |", "| 24 | 1 | 87.9%, 0.200, 4+9 | 97.9%, 0.021 |"]  # fmt: skip


def test_the_figure_gives_every_split_its_own_colour_beyond_ten_splits(imbalanced_mnist):
    for count in (1, 4, 10, 18, 40):
        colours = imbalanced_mnist.split_colours(list(range(7, 7 + count)))
        assert len(colours) == count and len(set(colours.values())) == count


def test_results_from_summarises_the_runs_of_several_results_files_together_and_leaves_them_unchanged(imbalanced_mnist, tmp_path, capsys):
    def run(variant, split, seed, accuracy):
        return {"variant": variant, "split": split, "seed": seed, **dict.fromkeys(imbalanced_mnist.SUMMARY_FIGURES, accuracy)}

    main, unseen = tmp_path / "main.json", tmp_path / "unseen.json"
    main.write_text(json.dumps({"runs": [run("uniform_consistency", 0, 0, 0.8), run("learned_prior_consistency_floor", 0, 0, 0.9)]}))
    # split 5 only here; its copy of (floor, 0, 0) comes after the main file's, so the main file's is the one kept
    unseen.write_text(json.dumps({"runs": [run("uniform_consistency", 5, 0, 0.7), run("learned_prior_consistency_floor", 5, 0, 0.9),
                                           run("learned_prior_consistency_floor", 0, 0, 0.1)]}))  # fmt: skip
    before = main.read_text(), unseen.read_text()
    both = tmp_path / "both.json"
    arguments = ["--summarize_only", "--splits", "0", "5", "--seeds", "0", "--variants", "uniform_consistency", "learned_prior_consistency_floor",
                 "--output_dir", str(tmp_path / "no-runs"), "--results", str(both)]  # fmt: skip
    benchmark = imbalanced_mnist.main([*arguments, "--results_from", str(main), str(unseen)])
    assert sorted((r["split"], r["variant"], r["accuracy"]) for r in benchmark["runs"]) == [
        (0, "learned_prior_consistency_floor", 0.9), (0, "uniform_consistency", 0.8), (5, "learned_prior_consistency_floor", 0.9), (5, "uniform_consistency", 0.7)]
    gain = benchmark["paired_gains"]["learned_prior_consistency_floor"]
    assert gain["pairs"] == 2 and gain["accuracy"]["mean"] == pytest.approx(0.15) and benchmark["targets"]["learned_prior_consistency_floor"]["splits"] == [0, 5]
    assert json.loads(both.read_text())["runs"] == benchmark["runs"] and (main.read_text(), unseen.read_text()) == before
    # a later summary of the written file alone keeps its four runs; a file that is not there is named, with what is allowed
    assert len(imbalanced_mnist.main(arguments)["runs"]) == 4
    with pytest.raises(SystemExit) as stopped:
        imbalanced_mnist.main([*arguments, "--results_from", str(main), str(tmp_path / "missing.json")])
    assert stopped.value.code == 2 and f"existing results files (written by this benchmark); not found: {tmp_path / 'missing.json'}" in capsys.readouterr().err


def test_a_run_without_what_each_category_draws_is_named_with_the_command_that_measures_it(imbalanced_mnist, tmp_path):
    run_dir = tmp_path / "split-7" / "seed-0"
    run_dir.mkdir(parents=True)
    (run_dir / "training_config.json").write_text(json.dumps({"dataset": "mnist_imbalanced_7", "eval_dataset": None, "code_revision": "0" * 40}))
    # a run evaluated before its evaluation classifier was built: clustering, but no "generation"
    (run_dir / "evaluation_results.json").write_text(json.dumps({"clustering": {"codes": {"categorical_0": {"accuracy": 0.9}}}}))
    with pytest.raises(ValueError) as error:
        imbalanced_mnist.run_record(run_dir, "uniform_consistency", 7, 0)
    assert str(run_dir / "evaluation_results.json") in str(error.value)
    assert f"python -m infogan_hub.evaluation {run_dir} --dataset mnist_imbalanced_7" in str(error.value)


def test_against_pairs_the_learned_variants_with_a_named_variant_too_which_must_be_one_of_the_variants(imbalanced_mnist, tmp_path, capsys):
    def run(variant, split, seed, accuracy):
        return {"variant": variant, "split": split, "seed": seed, **dict.fromkeys(imbalanced_mnist.SUMMARY_FIGURES, accuracy)}

    recipe, floor = "learned_prior_consistency_floor_split_bimodal_satellite_recut", "learned_prior_consistency_floor"
    finished = tmp_path / "finished.json"
    finished.write_text(json.dumps({"runs": [run("uniform_consistency", 7, 0, 0.80), run(floor, 7, 0, 0.85), run(recipe, 7, 0, 0.95),
                                             run("uniform_consistency", 8, 0, 0.70), run(floor, 8, 0, 0.90), run(recipe, 8, 0, 0.80)]}))  # fmt: skip
    arguments = ["--summarize_only", "--splits", "7", "8", "--seeds", "0", "--variants", "uniform_consistency", floor, recipe,
                 "--output_dir", str(tmp_path / "no-runs"), "--results", str(tmp_path / "against.json"), "--results_from", str(finished)]  # fmt: skip
    benchmark = imbalanced_mnist.main([*arguments, "--against", floor])
    against = benchmark["paired_gains_against"][floor]
    assert list(against) == [recipe]  # not the floor itself, not the uniform prior
    assert against[recipe]["pairs"] == 2 and against[recipe]["accuracy"]["mean"] == pytest.approx(0.0) and against[recipe]["accuracy"]["wins"] == 1
    assert benchmark["paired_gains"][recipe]["baseline"] == "uniform_consistency"  # the pairs with the uniform prior stay
    assert f"| {recipe} | {floor} | 2 | +0.000 ± 0.141 | 1/2 |" in capsys.readouterr().out
    assert imbalanced_mnist.main(arguments)["paired_gains_against"] == {}
    with pytest.raises(SystemExit) as stopped:
        imbalanced_mnist.main([*arguments, "--against", "learned_consistency"])
    assert stopped.value.code == 2 and "--against takes variants that --variants also names (their runs are the pairs' other halves); not among them: learned_consistency" in capsys.readouterr().err


def test_a_learned_prior_held_uniform_for_the_whole_run_is_a_uniform_baseline_not_a_learned_variant(imbalanced_mnist, monkeypatch):
    """uniform_relaxed_consistency_floor is the floor with a warm-up as long as the run: it gets no target verdict,
    and against it (--against) the floor is paired; any shorter warm-up still learns a prior."""
    def run(variant, seed, accuracy):
        return {"variant": variant, "split": 0, "seed": seed, "accuracy": accuracy, "nmi": accuracy, "prior_total_variation": 0.1}

    assert not imbalanced_mnist.learns_prior("uniform_relaxed_consistency_floor")
    assert imbalanced_mnist.learns_prior("learned_prior_consistency_floor")
    runs = [run("uniform_relaxed_consistency_floor", 0, 0.8), run("uniform_relaxed_consistency_floor", 1, 0.7),
            run("learned_prior_consistency_floor", 0, 0.9), run("learned_prior_consistency_floor", 1, 0.75)]  # fmt: skip
    variants = ["uniform_relaxed_consistency_floor", "learned_prior_consistency_floor"]
    against = imbalanced_mnist.paired_gains(runs, variants, baseline="uniform_relaxed_consistency_floor")
    assert list(against) == ["learned_prior_consistency_floor"] and against["learned_prior_consistency_floor"]["accuracy"]["mean"] == pytest.approx(0.075)
    assert list(imbalanced_mnist.targets(runs, against, [0])) == ["learned_prior_consistency_floor"]
    # the late prior's uniform prior is that held run (the same run until step 2000), for the gains and the targets alike
    late = [run("learned_late_prior_consistency_floor", 0, 0.95), run("learned_late_prior_consistency_floor", 1, 0.9), run("uniform_consistency", 0, 0.5)]
    by_default = imbalanced_mnist.paired_gains(runs + late, [*variants, "uniform_consistency", "learned_late_prior_consistency_floor"])
    assert by_default["learned_late_prior_consistency_floor"]["baseline"] == "uniform_relaxed_consistency_floor"
    assert by_default["learned_late_prior_consistency_floor"]["pairs"] == 2 and by_default["learned_late_prior_consistency_floor"]["accuracy"]["mean"] == pytest.approx(0.175)
    assert imbalanced_mnist.targets(runs + late, by_default, [0])["learned_late_prior_consistency_floor"]["baseline"] == "uniform_relaxed_consistency_floor"
    monkeypatch.setitem(imbalanced_mnist.VARIANTS, "held", ("mnist", [*imbalanced_mnist.FLOOR, "--prior_warmup_steps", str(imbalanced_mnist.STEPS - 1)]))
    assert imbalanced_mnist.learns_prior("held")


def train_twin_and_branch(imbalanced_mnist, tmp_path, monkeypatch, late: str, held: str, steps: int) -> tuple[Path, Path, Path]:
    """Seed 0 of split 1 for a branched variant and its twin, with the small models (the real `accelerate launch`):
    the runs' folder, the branch's run and the twin's."""
    for name, value in accelerate_env().items():
        monkeypatch.setenv(name, value)
    runs = tmp_path / "runs"
    imbalanced_mnist.main(["--splits", "1", "--seeds", "0", "--variants", late, held, "--steps", str(steps), "--output_dir", str(runs),
                           "--results", str(tmp_path / "branched.json"), "--", *SMALL, "--report_to", "none", "--checkpointing_steps", "2"])  # fmt: skip
    return runs, runs / late / "split-1" / "seed-0", runs / held / "split-1" / "seed-0"


def assert_the_twin_s_weights(branch: Path, twin: Path) -> None:
    for component in ("image_generator", "discriminator"):
        expected, got = weights(twin, component), weights(branch, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs from the twin's"


def test_a_branched_variant_resumes_its_twin_s_checkpoint_with_its_own_settings_and_is_that_run_until_they_differ(imbalanced_mnist, tmp_path, monkeypatch):
    # the late prior branches from the held run at step 2 here; in 4 steps neither prior leaves uniform (warm-ups of
    # 2000 and 2811 steps), so the branch, resumed from the twin's step, must end with the twin's weights
    late, held = "learned_late_prior_consistency_floor", "uniform_relaxed_consistency_floor"
    monkeypatch.setitem(imbalanced_mnist.BRANCHES, late, (held, 2))
    runs, branch, twin = train_twin_and_branch(imbalanced_mnist, tmp_path, monkeypatch, late, held, 4)
    assert "checkpoint-2 at step 2." in (branch / "train.log").read_text()
    recorded = json.loads((branch / "training_config.json").read_text())
    assert recorded["prior_warmup_steps"] == 2000 and json.loads((twin / "training_config.json").read_text())["prior_warmup_steps"] == imbalanced_mnist.STEPS
    # finished, the twin keeps only the checkpoint its branches start from, the branch none
    assert [path.name for path in twin.glob("checkpoint-*")] == ["checkpoint-2"] and not list(branch.glob("checkpoint-*"))
    assert_the_twin_s_weights(branch, twin)
    # a finished branch is not started again; an unfinished one is, once: then it resumes its own checkpoint
    assert not imbalanced_mnist.branch_from_twin(late, runs, 1, 0)
    (branch / "study_run_done.json").unlink()
    assert imbalanced_mnist.branch_from_twin(late, runs, 1, 0) and not imbalanced_mnist.branch_from_twin(late, runs, 1, 0)
    # without its twin's checkpoint it trains from step 0
    assert not imbalanced_mnist.branch_from_twin(late, runs, 1, 5) and not (runs / late / "split-1" / "seed-5").exists()


def test_a_branch_of_a_run_chosen_among_candidates_carries_on_with_the_chosen_seed_without_training_candidates_again(imbalanced_mnist, tmp_path, monkeypatch):
    # the candidate variants with two candidates of 2 steps, the branch at step 4 of 6: in 6 steps neither prior leaves
    # uniform, so the branch, carrying on with the twin's chosen seed from its step, must end with the twin's weights
    late, held = "learned_late_prior_consistency_floor_recluster_modularity_candidates", "uniform_relaxed_consistency_floor_candidates"
    candidates = ["--candidate_runs", "2", "--candidate_steps", "2", "--checkpointing_steps", "2"]  # the branch reads them too
    monkeypatch.setitem(imbalanced_mnist.VARIANTS, held, ("mnist", [*imbalanced_mnist.FLOOR, "--prior_warmup_steps", str(imbalanced_mnist.STEPS), *candidates]))
    monkeypatch.setitem(imbalanced_mnist.VARIANTS, late, ("mnist", [*imbalanced_mnist.FLOOR, "--prior_warmup_steps", "2000", *candidates]))
    monkeypatch.setitem(imbalanced_mnist.BRANCHES, late, (held, 4))
    _, branch, twin = train_twin_and_branch(imbalanced_mnist, tmp_path, monkeypatch, late, held, 6)
    choice = json.loads((twin / "candidates.json").read_text())
    assert len(choice["candidates"]) == 2 and (twin / "candidates").is_dir()
    # finished, the candidates keep their weights and evaluation, no checkpoint
    assert len(list(twin.glob("candidates/seed-*/discriminator"))) == 2 and not list(twin.glob("candidates/seed-*/checkpoint-*"))
    assert json.loads((branch / "candidates.json").read_text()) == choice and not (branch / "candidates").exists()
    assert "checkpoint-4 at step 4." in (branch / "train.log").read_text()
    assert json.loads((branch / "training_config.json").read_text())["seed"] == choice["chosen_seed"]
    assert_the_twin_s_weights(branch, twin)
