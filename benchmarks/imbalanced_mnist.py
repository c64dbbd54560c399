"""Imbalanced MNIST: the uniform prior against a learned one, over the same splits and seeds.

    python benchmarks/imbalanced_mnist.py --splits 0 1 2 3 4 --seeds 0 --output_dir output/imbalanced-mnist
    python benchmarks/imbalanced_mnist.py ... --summarize_only      # the table from what has finished
    python benchmarks/imbalanced_mnist.py ... -- --hidden_dim 64     # extra train.py arguments for every run

Each (variant, split) is a seed study (`training/study.py`, the real `accelerate launch`) on the
built-in data set `mnist_imbalanced_<split>` (class sizes drawn per split, largest/smallest 2-10),
2811 steps like the MNIST studies; an interrupted benchmark resumes. It then writes
benchmarks/results/imbalanced-mnist.json with a figure, and prints the table. Per run: clustering
accuracy, NMI, and the total variation between the prior categories are drawn from and the
frequencies of the classes they were matched to; per variant: mean, std, min, max over all runs.
The file keeps the runs it already held for the variants, splits and seeds asked for (finished on
other machines, their folders not here) beside those finished here. `--results_from` reads the runs
of other results files too, without changing them, so one command summarises several together:

    python benchmarks/imbalanced_mnist.py --summarize_only --splits 0 1 2 3 4 5 6 --seeds 0 1 2 3 4 \
        --variants uniform_consistency learned_prior_consistency_floor --results benchmarks/results/imbalanced-mnist-all-splits.json \
        --results_from benchmarks/results/imbalanced-mnist.json benchmarks/results/imbalanced-mnist-unseen-splits.json

The late-prior variants (BRANCHES) are one run with the held-uniform one until step 2000: asked for together, the
held run trains first and each branch starts from a copy of its step-2000 checkpoint. A finished run keeps only that
checkpoint, where it is a twin, and none otherwise (`--keep_checkpoints` keeps them all): each is ~150 MB.

Each learned variant is paired with the uniform prior of its preset; `--against VARIANT` pairs it with
another of the variants too, e.g. a recipe with the same recipe less one setting: what that setting changes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "training"))
import study as seed_study  # noqa: E402  training/study.py, the runner of every seed
import train  # noqa: E402  training/train.py: a branch's settings, as a run records them
from infogan_hub.evaluation import CANDIDATES_FILE, clustering_errors, prior_total_variation, write_json  # noqa: E402

RESULTS = REPOSITORY / "benchmarks" / "results" / "imbalanced-mnist.json"
STEPS = 2811  # as the MNIST seed studies: 3 epochs of 60,000 images at batch 64
# variant: (preset, extra train.py arguments)
# "learned*": after 1000 uniform steps the prior follows the share of real images Q assigns to each
# category (the M-step, hard assignments, a 200-step moving average); in RECIPE the consistency term
# keeps real images' categories even (IIC's entropy), in learned_prior_consistency (train.py's
# defaults) it asks them to follow the prior.
RECIPE = ["--categorical_prior", "learned", "--prior_loss_weight", "0", "--prior_em_rate", "0.005", "--prior_em_shares", "hard",
          "--prior_warmup_steps", "1000", "--consistency_marginal", "uniform"]  # fmt: skip
# The earlier attempts, kept to compare: "learned_exact*" trains the prior by D's verdict on each
# category's fakes (losses.categorical_prior_loss); "learned_gumbel*" by the Gumbel-softmax path
# through G alone, as Elastic-InfoGAN does; "learned_em_soft*" by the M-step on Q's mean
# posteriors (with a floor and the consistency term following the prior, or even).
EM_SOFT = ["--categorical_prior", "learned", "--prior_loss_weight", "0", "--prior_em_rate", "0.002", "--prior_em_shares", "soft", "--prior_warmup_steps", "1000"]
# The learned variants are also paired with this one: the defaults until learned_prior_consistency
# (the consistency term following the prior) beat it in 7 of 8 pairs and became them.
REFERENCE = "learned_consistency"
# and with train.py's defaults since then
DEFAULTS = "learned_prior_consistency"
# and the mnist preset's variants with the paper's InfoGAN, uniform prior and no consistency term (the
# issue's "uniform prior" row): what a user gains over it; the uniform ones there show what the consistency term alone gains
PAPER = "uniform"
# a learned variant that changes a setting beside the prior is paired with the uniform prior under that setting too
UNIFORM_BASELINES = {"learned_prior_consistency_floor_lambda": "uniform_consistency_lambda",
                     "learned_prior_consistency_floor_candidates": "uniform_consistency_candidates",
                     # the late prior against its own run with the prior never moved: the same run until step 2000
                     "learned_late_prior_consistency_floor": "uniform_relaxed_consistency_floor",
                     "learned_late_prior_consistency_floor_recluster": "uniform_relaxed_consistency_floor",
                     "learned_late_prior_consistency_floor_recluster_agreed": "uniform_relaxed_consistency_floor",
                     "learned_late_prior_consistency_floor_recluster_modularity": "uniform_relaxed_consistency_floor",
                     "learned_late_prior_consistency_floor_recluster_modularity_affine": "uniform_relaxed_consistency_floor",
                     "learned_late_prior_consistency_floor_recluster_modularity_candidates": "uniform_relaxed_consistency_floor_candidates"}
# three seeds train 1000 steps, and the run whose Q sorts the training images most consistently
# (I(c; c') with a transformed copy, no labels) carries on: most failed runs merge two similar
# digits, split a common one, and score lower on it, from step 1000 (split 0, six seeds)
CANDIDATES = ["--candidate_runs", "3", "--candidate_steps", "1000"]
# the defaults with the size barrier (weight 0.5) paying only below a share of 0.02, and the variants built on it
FLOOR = [*RECIPE, "--consistency_marginal", "prior", "--consistency_size_barrier", "0.5", "--consistency_size_floor", "0.02"]
# the floor's with the prior held uniform every step, and with it learned after step 2000 where the categories are re-seated
HELD_UNIFORM = [*FLOOR, "--prior_warmup_steps", str(STEPS)]
MODULARITY_RECLUSTER = [*FLOOR, "--prior_warmup_steps", "2000", "--category_recluster_step", "2000", "--category_recluster_linkage", "modularity"]
VARIANTS = {
    "uniform": ("mnist_paper", []),
    "uniform_consistency": ("mnist", []),
    # IIC's lambda at 1.5, not 1: more pressure towards the marginal's sizes (even while the prior is)
    "uniform_consistency_lambda": ("mnist", ["--consistency_entropy_weight", "1.5"]),
    "uniform_consistency_candidates": ("mnist", CANDIDATES),
    "learned": ("mnist_paper", RECIPE[: RECIPE.index("--consistency_marginal")]),
    "learned_consistency": ("mnist", RECIPE),
    # the consistency term asks real images' categories for the prior's sizes (KL to it), not even ones
    "learned_prior_consistency": ("mnist", [*RECIPE, "--consistency_marginal", "prior"]),
    # and KL(uniform || Q's shares) beside it, weight 0.5: a fixed force against a category emptying
    "learned_prior_consistency_barrier": ("mnist", [*RECIPE, "--consistency_marginal", "prior", "--consistency_size_barrier", "0.5"]),
    # the barrier only below a share of 0.02 (a category emptying), no pull above it: a rare class is not pushed into a similar one
    "learned_prior_consistency_floor": ("mnist", FLOOR),
    "learned_prior_consistency_floor_candidates": ("mnist", [*FLOOR, *CANDIDATES]),
    # the floor's with its prior held uniform the whole run (the warm-up lasts every step): the uniform prior
    # on the floor's objective, drawn through the same relaxation, so that it and the floor are one run until
    # step 1000 (same seed, same machine) and differ after it only in whether the prior is learned
    "uniform_relaxed_consistency_floor": ("mnist", HELD_UNIFORM),
    # and with the prior learned after 2000 uniform steps, not 1000: one run with the one above until step 2000. On
    # split 7 seed 0 the floor's prior (from step 1000) let 7 join 9's category while its own shrank to 2% (89.8%),
    # where the prior held uniform kept each digit its own category (96.4%), Q's shares of the test images near the
    # classes. It starts from that run's step-2000 checkpoint where the run has it (BRANCHES)
    "learned_late_prior_consistency_floor": ("mnist", [*FLOOR, "--prior_warmup_steps", "2000"]),
    # and with the categories re-seated where the prior starts to learn (--category_recluster_step 2000): the uniform
    # steps leave a common digit over two categories and two rare similar ones in one; k-means on D's trunk features
    # (30 clusters) merged by how often transformed copies cross between clusters parts them. Read off splits 16-18's
    # held runs at step 2000 (labels read only to score): 90.9% of the training images against Q's 84.6% (12 runs)
    "learned_late_prior_consistency_floor_recluster": ("mnist", [*FLOOR, "--prior_warmup_steps", "2000", "--category_recluster_step", "2000"]),
    # and five re-clusters (k-means seeds), the one agreeing most with the others kept, and only where they agree at an
    # adjusted Rand index of 0.88 or more (else Q's categories stay): the merge is fragile where D's features part the
    # digits less well. Read off the 20 held runs of splits 7-10 and 16-18 at step 2000 (labels only to score): the
    # re-clusters' agreement was 0.78-0.87 where one re-cluster sorted the images worse than Q (10/0, 18/0, 18/1, 9/1)
    "learned_late_prior_consistency_floor_recluster_agreed": ("mnist", [*FLOOR, "--prior_warmup_steps", "2000", "--category_recluster_step", "2000",
                                                                        "--category_recluster_draws", "5", "--category_recluster_min_agreement", "0.88"]),
    # and with the clusters merged by the crossing graph's modularity (--category_recluster_linkage modularity): the
    # size linkage leaves a common digit over three clusters parted while two similar digits merge. Read off the same
    # 20 held runs at step 2000 (labels only to score): 90.0 ± 5.7% of the training images (worst 78.6%) against the
    # size linkage's 88.4 ± 8.7% (worst 60.3%); on splits 19-21's six, 88.2 ± 3.8% against 82.4 ± 6.2%
    "learned_late_prior_consistency_floor_recluster_modularity": ("mnist", MODULARITY_RECLUSTER),
    # and with the merge reading copies without the consistency term's elastic warp (--category_recluster_elastic_strength 0):
    # the warp carries a 4's copy into a 9's cluster as often as into another 4's. Read off the 28 held runs of splits
    # 7-10 and 16-23 at step 2000 (labels only to score): 91.0 ± 5.3% of the training images sorted (worst 75.6%)
    # against 88.7 ± 6.2% (worst 69.5%) with the warp, better on 11 runs and worse on 3; over two more copy draws per run
    # +1.5 ± 3.5 points (23 of 56 draws better, 7 worse), the groups' shares 0.055 from the classes against 0.065
    # Out of sample (splits 24-27, seed 0) it lost 2.5 ± 5.4 points to the modularity re-cluster with the warp
    "learned_late_prior_consistency_floor_recluster_modularity_affine": ("mnist", [*MODULARITY_RECLUSTER, "--category_recluster_elastic_strength", "0"]),
    # the held run and the modularity re-cluster, each chosen among three seeds at step 1000 (CANDIDATES: the one whose
    # Q sorts the training images most consistently, no labels), one run until step 2000. The re-cluster parts only what
    # D's trunk features part, and where they fail the run's Q had failed first: over the 18 held runs of splits 24-31
    # still on disk, the consistency term's objective over steps 1800-2000 ranked the re-cluster's final accuracy with a
    # Spearman correlation of 0.84, its three worst runs (59-73%) the three least consistent (so over steps 800-1000)
    "uniform_relaxed_consistency_floor_candidates": ("mnist", [*HELD_UNIFORM, *CANDIDATES]),
    "learned_late_prior_consistency_floor_recluster_modularity_candidates": ("mnist", [*MODULARITY_RECLUSTER, *CANDIDATES]),
    # the floor's, with a category above 20% of the training images split in two in place of the smallest
    # (checked at steps 1500-2250): the floor's failed runs end with a category of 24-31% holding two
    # similar digits (the largest class: 15-18%), its good ones with none above 18.2% (splits 0-6)
    "learned_prior_consistency_floor_split": ("mnist", [*FLOOR, "--category_split_share", "0.2"]),
    # and, where none is oversized, a category in two clear modes in D's trunk features (two rare digits
    # merged, as 3 and 0 of 3-4% each in split 6) split in place of the smallest: over the split's six AVX2
    # runs (72 category readings at steps 1500-2500), one digit's categories scored at most 0.82, 3 + 0 0.86-0.91
    "learned_prior_consistency_floor_split_bimodal": ("mnist", [*FLOOR, "--category_split_share", "0.2", "--category_split_bimodality", "0.85"]),
    # and, where neither splits, the pair of categories whose images' transformed copies cross between them
    # above 10% re-cut along Q's transform-invariant direction, if its copies would cross that cut less than
    # 0.8 times as often: split 4 seed 1 ends with 4 + 9 and 8 + 5 each cut in two by slant (79.2%), and
    # at its step-1500 checkpoint that direction parts 4 from 9 at 89% (the pair now: 50%), 8 from 5 at 84%
    "learned_prior_consistency_floor_split_bimodal_recut": ("mnist", [*FLOOR, "--category_split_share", "0.2", "--category_split_bimodality", "0.85", "--category_recut_crossing", "0.1"]),
    # and, before the re-cut, a smallest category whose copies leave it above 35% (a satellite of a larger one
    # of the same digit) gives its place to the category its own invariant cut parts most cleanly: in the ten
    # runs above, at their checkpoints (steps 1500-2811; benchmarks/split_checks.py), the copies of a smallest
    # category that shared its digit with a larger one left it at 22-69% (median 45%), of one holding a digit
    # of its own at 8-57% (2 of 21 above 35%); the 18 readings above 35% chose a category holding two digits
    # (the second 16-45% of it), which the cut parted at 82-93% (17) or 42% (a mix of three)
    "learned_prior_consistency_floor_split_bimodal_satellite_recut": ("mnist", [*FLOOR, "--category_split_share", "0.2", "--category_split_bimodality", "0.85", "--category_satellite_leaving", "0.35", "--category_recut_crossing", "0.1"]),
    # the uniform prior with the same two splits: what the splits give without a learned prior (the
    # uniform-prior run of split 6 seed 2 holds 5 + 0 in one category, at bimodality 0.89 from step 1500)
    "uniform_consistency_split_bimodal": ("mnist", ["--category_split_share", "0.2", "--category_split_bimodality", "0.85"]),
    # and with the re-cut: what the three repairs give without a learned prior
    "uniform_consistency_split_bimodal_recut": ("mnist", ["--category_split_share", "0.2", "--category_split_bimodality", "0.85", "--category_recut_crossing", "0.1"]),
    # the floor's with the barrier at weight 2, not 0.5: on splits 5-6, seeds 2-4, the floor's smallest
    # category held 0.4-1.4% of the test images in five runs of six, below the 2% the floor guards
    "learned_prior_consistency_floor_strong": ("mnist", [*FLOOR, "--consistency_size_barrier", "2"]),
    # the floor's trained twice as long (its --max_train_steps overrides --steps), to see whether its
    # accuracy still rises after 2811 steps. It resumes the floor's latest checkpoint (step 2500) when the
    # floor's run folder is copied over, as the split-0 screen did, or trains from step 0. Measured flat
    # from step 2000 on (split 0, seeds 0-1), so three times as long was not run
    "learned_prior_consistency_floor_5622_steps": ("mnist", [*FLOOR, "--max_train_steps", str(2 * STEPS)]),
    # the floor's with IIC's lambda at 1.5: more pressure for even sizes in each batch through the even
    # warm-up (after it the KL to the prior weighs 2, not 1). Ahead at step 500 on the floor's worst
    # pairs (splits 3 and 0, seed 0: 77.1% and 59.0% against 58.3% and 46.1%), yet split 1 seed 0 fell
    # to 61.6% (the floor: 89.1%), and the uniform prior under it gained as much: not a fix
    "learned_prior_consistency_floor_lambda": ("mnist", [*FLOOR, "--consistency_entropy_weight", "1.5"]),
    # the floor's, its size terms (KL to the prior, the floor) read at the categories' shares over about
    # 100 batches, not one batch's: a batch of 64 holds no image of a 2% class one time in four, and a
    # per-batch floor then pushes images of a similar class into that class's category. Measured worse:
    # at step 500 splits 0 and 3 (seed 0) were at 37.7% and 27.7% against 46.1% and 58.3%; stopped there
    "learned_prior_consistency_floor_running": ("mnist", [*FLOOR, "--consistency_marginal_momentum", "0.99"]),
    # the floor's, with IIC's overclustering head beside Q's code (50 even categories on Q's hidden layer,
    # weight 1.5, half the code's term, as IIC's MNIST run trains it one epoch in three): Q's features
    # separate a rare class from a similar one there, where even categories of 2% fit it, and Q's code reads them
    "learned_prior_consistency_floor_overclustering": ("mnist", [*FLOOR, "--overclustering_weight", "1.5", "--overclustering_categories", "50"]),
    # the barrier's, with the prior learned after 250 even steps, not 1000: the categories' sizes
    # follow Q's shares while the categories form, so no rare class is pushed into a tenth of the images
    "learned_early_prior_consistency_barrier": ("mnist", [*RECIPE[: RECIPE.index("--prior_warmup_steps")], "--prior_warmup_steps", "250", "--consistency_marginal", "prior", "--consistency_size_barrier", "0.5"]),
    # the same after 2000 even steps, not 1000: the categories form under IIC's even marginal first
    "learned_late_prior_consistency": ("mnist", [*RECIPE[: RECIPE.index("--prior_warmup_steps")], "--prior_warmup_steps", "2000", "--consistency_marginal", "prior"]),
    # Elastic-InfoGAN's consistency (NT-Xent on Q's features of a real image and its copy: no term on
    # the categories' sizes) instead of IIC's, or beside it
    "learned_contrastive": ("mnist_paper", [*RECIPE[: RECIPE.index("--consistency_marginal")], "--contrastive_weight", "10"]),
    "learned_consistency_contrastive": ("mnist", [*RECIPE, "--contrastive_weight", "10"]),
    # the M-step reads Q on 10% of the training images set aside for it, not on the D step's batch
    "learned_holdout_consistency": ("mnist", [*RECIPE, "--prior_em_holdout", "0.1"]),
    # and the consistency term asks real images' categories to follow the prior, not to be even
    "learned_holdout_prior_consistency": ("mnist", [*RECIPE, "--prior_em_holdout", "0.1", "--consistency_marginal", "prior", "--prior_min_share", "0.01"]),
    "learned_exact": ("mnist_paper", ["--categorical_prior", "learned"]),
    "learned_exact_consistency": ("mnist", ["--categorical_prior", "learned"]),
    "learned_gumbel": ("mnist_paper", ["--categorical_prior", "learned", "--prior_loss_weight", "0", "--learning_rate_prior", "0.001"]),
    "learned_gumbel_consistency": ("mnist", ["--categorical_prior", "learned", "--prior_loss_weight", "0", "--learning_rate_prior", "0.001"]),
    "learned_em_soft_consistency": ("mnist", [*EM_SOFT, "--prior_min_share", "0.02"]),
    "learned_em_soft_even_consistency": ("mnist", [*EM_SOFT, "--consistency_marginal", "uniform"]),
}


# A branched variant is one run with its twin until a step, then differs in settings: each seed starts from a copy of
# the twin's checkpoint at that step (where the twin's run has it and the branch has no checkpoint of its own), the
# settings that differ written into the copy's recorded ones, so train.py resumes it as the branch. Twins train first.
BRANCHES = {variant: ("uniform_relaxed_consistency_floor", 2000) for variant in (
    "learned_late_prior_consistency_floor", "learned_late_prior_consistency_floor_recluster", "learned_late_prior_consistency_floor_recluster_agreed",
    "learned_late_prior_consistency_floor_recluster_modularity", "learned_late_prior_consistency_floor_recluster_modularity_affine")} | {
    "learned_late_prior_consistency_floor_recluster_modularity_candidates": ("uniform_relaxed_consistency_floor_candidates", 2000)}  # fmt: skip


def variant_settings(variant: str) -> dict:
    """The settings train.py records for a variant's run, from its preset and arguments (those the benchmark adds
    to every run are the same for all and left out)."""
    preset, extra = VARIANTS[variant]
    return train.run_settings(train.parse_args(["--preset", preset, *extra]), num_processes=1)


def branch_from_twin(variant: str, output_dir: Path, split: int, seed: int) -> bool:
    """Starts a branched variant's run (BRANCHES) from its twin's checkpoint; True where it did. The copy is made
    under a temporary name and renamed, so a killed copy leaves no checkpoint for train.py to resume."""
    twin, step = BRANCHES[variant]
    source = output_dir / twin / f"split-{split}" / f"seed-{seed}" / f"checkpoint-{step}"
    run_dir = output_dir / variant / f"split-{split}" / f"seed-{seed}"
    if not source.is_dir() or any(run_dir.glob("checkpoint-*")) or (run_dir / seed_study.DONE_FILE).exists():
        return False
    branch_settings, twin_settings = variant_settings(variant), variant_settings(twin)
    changed = {key: value for key, value in branch_settings.items() if key not in twin_settings or twin_settings[key] != value}
    partial = run_dir / f".checkpoint-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    if (choice := source.parent / CANDIDATES_FILE).exists():  # the twin's seed, chosen among candidates: train.py carries on with it
        shutil.copyfile(choice, run_dir / CANDIDATES_FILE)
    state_file = partial / train.TRAINING_STATE_FILE
    state = json.loads(state_file.read_text())
    state["settings"] |= changed
    write_json(state_file, state)
    partial.rename(run_dir / f"checkpoint-{step}")
    print(f"{variant} split {split} seed {seed}: starts from {source} with {changed}", flush=True)
    return True


def prune_checkpoints(variant: str, run_dir: Path) -> None:
    """Removes a finished run's checkpoints but the ones its branches start from (BRANCHES): the run's weights and
    evaluation stay, and a finished run is never resumed. A study of many runs would otherwise keep gigabytes."""
    if not (run_dir / seed_study.DONE_FILE).exists():
        return
    kept = {f"checkpoint-{step}" for twin, step in BRANCHES.values() if twin == variant}
    for _, checkpoint in train.list_checkpoints(run_dir):
        if checkpoint.name not in kept:
            shutil.rmtree(checkpoint)
    for candidate in run_dir.glob("candidates/seed-*"):  # the chosen one's checkpoint was copied into the run; candidates.json keeps the choice
        for _, checkpoint in train.list_checkpoints(candidate):
            shutil.rmtree(checkpoint)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=["uniform", "learned", "learned_consistency"], choices=sorted(VARIANTS))
    parser.add_argument("--output_dir", type=Path, default=Path("output/imbalanced-mnist"))
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file to write (its runs for what is asked are kept)")
    parser.add_argument("--results_from", type=Path, nargs="+", default=[],
                        help="more results files whose runs for what is asked are kept too (read only; a run found earlier, here or in --results, wins)")
    parser.add_argument("--against", nargs="+", default=[], choices=sorted(VARIANTS), metavar="VARIANT",
                        help="pair the learned variants with these too, each one of --variants (e.g. a recipe without one of its settings: what that setting changes)")
    parser.add_argument("--parallel", type=int, default=1, help="(variant, split) studies at a time, each on its share of the cores")
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps of each run")
    parser.add_argument("--summarize_only", action="store_true", help="train nothing; summarise the finished runs")
    parser.add_argument("--keep_checkpoints", action="store_true",
                        help="keep every finished run's checkpoints (by default it keeps only the ones its branches start from)")
    args = parser.parse_args(argv)
    if unrun := [variant for variant in args.against if variant not in args.variants]:
        parser.error(f"--against takes variants that --variants also names (their runs are the pairs' other halves); not among them: {', '.join(unrun)}")
    if missing := [str(path) for path in args.results_from if not path.is_file()]:
        parser.error(f"--results_from takes existing results files (written by this benchmark); not found: {', '.join(missing)}")
    args.train_arguments = extra
    return args


def run_record(run_dir: Path, variant: str, split: int, seed: int) -> dict:
    results = json.loads((run_dir / seed_study.RESULTS_FILE).read_text())
    training_config = json.loads((run_dir / seed_study.TRAINING_CONFIG_FILE).read_text())
    if "generation" not in results:
        raise ValueError(f"{run_dir / seed_study.RESULTS_FILE} has no 'generation' results (what each category draws): the evaluation classifier "
                         f"was missing when the run was evaluated; measure them with `python -m infogan_hub.evaluation {run_dir} --dataset "
                         f"{training_config.get('eval_dataset') or training_config.get('dataset')}`.")  # fmt: skip
    code = results["clustering"]["codes"]["categorical_0"]
    prior, shares = results.get("categorical_prior", {}).get("categorical_0"), results["category_usage"]["codes"]["categorical_0"]["shares"]
    return {
        "variant": variant, "split": split, "seed": seed,
        "accuracy": code["accuracy"], "nmi": code["nmi"], "ari": code["ari"],
        "prior_total_variation": code["prior_total_variation"],
        # the same distance for the share of test images Q assigns to each category: what an M-step
        # on images Q was not trained on would aim at
        "shares_total_variation": prior_total_variation(shares, code["matching"], results["clustering"]["class_frequencies"]),
        # how far the prior is from Q's shares of the test images: how well the prior follows what Q
        # does, apart from how well Q's categories match the classes (uniform: the uniform prior's)
        "prior_to_shares_total_variation": 0.5 * sum(abs(prior - share) for prior, share in zip(prior or [1 / len(shares)] * len(shares), shares)),
        # what each category draws, read by the evaluation classifier: Elastic-InfoGAN's ENT (lower is purer)
        "ent": results["generation"]["codes"]["categorical_0"]["ent"],
        # the smallest share of test images in one category: near 0, a category died and its class merged into another
        "min_share": min(shares),
        "generated_accuracy": results["generation"]["codes"]["categorical_0"]["accuracy"],
        # Q's categories that hold two classes and classes over two categories (evaluation.clustering_errors;
        # None for runs evaluated before the matrix was kept)
        "merged": code.get("merged"), "split_classes": code.get("split"),
        # the pairs of classes that share a category, each at least TWO_CLASS_PART of it (None before the matrix was kept)
        "two_class_categories": [[label for label, _ in entry["classes"][:2]] for entry in clustering_errors(code["matrix"], TWO_CLASS_PART)["merged"]]
                                if "matrix" in code else None,
        "prior": prior,
        "class_frequencies": results["clustering"]["class_frequencies"],
        "wall_seconds": results["elapsed_seconds"],
        "code_revision": training_config["code_revision"],
        # the CPU kernels it ran on (recorded since d09b22d; None before): one seed and commit gave other results on another machine
        "cpu_capability": training_config.get("cpu_capability"),
        # with --candidate_runs: each candidate's seed, score and (never used to choose) accuracy, and the seed carried on
        **({"candidates": json.loads(candidates.read_text())} if (candidates := run_dir / CANDIDATES_FILE).exists() else {}),
    }  # fmt: skip


def asked(run: dict, variants: list[str], splits: list[int], seeds: list[int]) -> bool:
    return run["variant"] in variants and run["split"] in splits and run["seed"] in seeds


def runs_kept_from(results: Path, found: list[dict], variants: list[str], splits: list[int], seeds: list[int]) -> list[dict]:
    """The runs an earlier results file records (finished on another machine, whose run folders
    are not here) for the variants, splits and seeds asked for, except those found here again."""
    if not results.exists():
        return []
    here = {(run["variant"], run["split"], run["seed"]) for run in found}
    return [
        run for run in json.loads(results.read_text())["runs"]
        if asked(run, variants, splits, seeds) and (run["variant"], run["split"], run["seed"]) not in here
    ]  # fmt: skip


def refuse_to_drop_runs(results: Path, variants: list[str], splits: list[int], seeds: list[int]) -> None:
    """The results file is rewritten with the runs asked for alone: where it records others, stop before training."""
    if not results.exists():
        return
    others = [run for run in json.loads(results.read_text())["runs"] if not asked(run, variants, splits, seeds)]
    if others:
        named = ", ".join(f"{run['variant']} split {run['split']} seed {run['seed']}" for run in others[:3])
        raise SystemExit(f"--results {results} records runs outside the variants, splits and seeds asked for ({len(others)}: {named}{', ...' if len(others) > 3 else ''}): "
                         "rewriting it would drop them. Ask for them too, or name another --results file (and --results_from this one to summarise its runs).")  # fmt: skip


# A category holds two classes (the summary's "parting") where each is at least this share of it: the
# failure the prior cannot follow past, a rare digit in a similar common one's category (4 and 9).
TWO_CLASS_PART = 0.25
# the figures of each run that the summary gives as mean, std, min and max per variant
SUMMARY_FIGURES = ("accuracy", "nmi", "ent", "generated_accuracy", "prior_total_variation", "shares_total_variation", "prior_to_shares_total_variation")


def summarize(runs: list[dict], variants: list[str]) -> dict:
    summary = {}
    for variant in variants:
        mine = [run for run in runs if run["variant"] == variant]
        if mine:
            summary[variant] = {"runs": len(mine)} | {
                metric: seed_study.describe([run[metric] for run in mine]) for metric in SUMMARY_FIGURES
            } | {"parting": parting(mine)}
    return summary


def parting(runs: list[dict]) -> dict:
    """The runs whose categories part every class (none holds two, TWO_CLASS_PART each) and the others
    (`merging`): how many, and their accuracy and prior's total variation from the classes (mean, std, min
    and max; None where there are none). Runs measured before the matrix was kept are in neither."""

    def group(members: list[dict]) -> dict:
        return {"runs": len(members)} | {
            metric: seed_study.describe([run[metric] for run in members]) if members else None for metric in ("accuracy", "prior_total_variation")
        }

    known = [run for run in runs if run.get("two_class_categories") is not None]
    return {"parted": group([run for run in known if not run["two_class_categories"]]), "merging": group([run for run in known if run["two_class_categories"]])}


def learns_prior(variant: str) -> bool:
    """Whether the variant trains a learned prior (every other one keeps the uniform prior, some of them
    as a learned prior whose warm-up lasts the run)."""
    extra = VARIANTS[variant][1]
    warmups = [int(value) for flag, value in zip(extra, extra[1:]) if flag == "--prior_warmup_steps"]
    return "--categorical_prior" in extra and not (warmups and warmups[-1] >= STEPS)


def paired_gains(runs: list[dict], variants: list[str], baseline: str | None = None, any_preset: bool = False) -> dict:
    """Each variant against a baseline, pair by pair over the (split, seed) both have run: the
    gain's mean ± std and the pairs it wins. The baseline is `baseline` for every variant that
    shares its preset, else the variant's uniform counterpart (UNIFORM_BASELINES) or the uniform
    prior with the variant's preset. With `any_preset`, a given baseline of another preset too, and
    the uniform variants with it: what the preset's other terms gain, told apart from what the
    prior does. A gain larger than its spread is what "beats the uniform prior" asks for."""
    gains = {}
    for variant in variants:
        preset = VARIANTS[variant][0]
        theirs_name = baseline if baseline is not None else UNIFORM_BASELINES.get(variant) or next(name for name, (other, extra) in VARIANTS.items() if other == preset and not extra)
        if variant == theirs_name:
            continue
        if not any_preset and (VARIANTS[theirs_name][0] != preset or (baseline is not None and not learns_prior(variant))):
            continue  # another preset, or (against a given baseline) a uniform prior, under any setting
        theirs = {(run["split"], run["seed"]): run for run in runs if run["variant"] == theirs_name}
        pairs = [(run, theirs[run["split"], run["seed"]]) for run in runs if run["variant"] == variant and (run["split"], run["seed"]) in theirs]
        if pairs:
            gains[variant] = {"baseline": theirs_name, "pairs": len(pairs)} | {
                metric: seed_study.describe([mine[metric] - base[metric] for mine, base in pairs])
                | {"wins": sum(mine[metric] > base[metric] for mine, base in pairs), "needed_without_spread": needed_without_spread([base[metric] for _, base in pairs])}
                for metric in ("accuracy", "nmi")
            }
    return gains


def needed_without_spread(baseline: list[float]) -> float:
    """The baseline's mean + std over the pairs: a variant with one figure on every pair has its
    gain's spread equal to the baseline's own, so it beats the baseline only above this figure."""
    figures = seed_study.describe(baseline)
    return figures["mean"] + figures["std"]


TOTAL_VARIATION_TARGET = 0.05  # the issue's: the learned prior this close to the classes, averaged over the splits


def targets(runs: list[dict], gains: dict, splits: list[int]) -> dict:
    """The issue's two targets for each variant paired with a uniform prior (`gains`, from
    `paired_gains`). One: the prior's total variation from the class frequencies, averaged over
    the splits (each split's seeds first, so a split run twice weighs no more), at most
    `TOTAL_VARIATION_TARGET`, with every split asked for run (fewer prove nothing of the others).
    Two: a paired gain over the uniform prior larger than its spread between (split, seed) pairs,
    in accuracy and in NMI, over two pairs at least (one pair has no spread to beat)."""
    verdicts = {}
    for variant, gain in gains.items():
        if not learns_prior(variant):
            continue  # a uniform prior under another setting, paired with the plain one: no prior learned
        by_split = {}
        for run in runs:
            if run["variant"] == variant:
                by_split.setdefault(run["split"], []).append(run["prior_total_variation"])
        distance = statistics.fmean(statistics.fmean(distances) for distances in by_split.values())
        beats = {metric: gain["pairs"] >= 2 and gain[metric]["mean"] > gain[metric]["std"] for metric in ("accuracy", "nmi")}
        verdicts[variant] = {"splits": sorted(by_split), "prior_total_variation_over_splits": distance,
                             "prior_total_variation_met": set(splits) <= set(by_split) and distance <= TOTAL_VARIATION_TARGET,
                             "baseline": gain["baseline"], "pairs": gain["pairs"], "beats_uniform_met": beats["accuracy"] and beats["nmi"]}  # fmt: skip
    return verdicts


def table(benchmark: dict) -> str:
    rows = [
        "| variant | runs (splits × seeds) | accuracy | worst | NMI | ENT | prior's total variation from the classes | Q's shares' (test images) | prior's from Q's shares |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant, figures in benchmark["summary"].items():
        accuracy, nmi, ent, distance = figures["accuracy"], figures["nmi"], figures["ent"], figures["prior_total_variation"]
        shares, follows = figures["shares_total_variation"], figures["prior_to_shares_total_variation"]
        rows.append(
            f"| {variant} | {figures['runs']} | {accuracy['mean']:.3f} ± {accuracy['std']:.3f} | {accuracy['min']:.3f} "
            f"| {nmi['mean']:.3f} ± {nmi['std']:.3f} | {ent['mean']:.3f} ± {ent['std']:.3f} | {distance['mean']:.3f} ± {distance['std']:.3f} "
            f"| {shares['mean']:.3f} ± {shares['std']:.3f} | {follows['mean']:.3f} ± {follows['std']:.3f} |"
        )
    rows += ["", f"| variant | runs whose categories part every class | their accuracy (worst) | their prior's total variation (worst) | runs with a category holding two classes (≥ {TWO_CLASS_PART:.0%} each) | their accuracy (worst) | their prior's total variation (worst) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip

    def cell(group: dict, metric: str) -> str:
        if group[metric] is None:
            return ""
        figures = group[metric]
        return f"{figures['mean']:.3f} ± {figures['std']:.3f} ({figures['min' if metric == 'accuracy' else 'max']:.3f})"

    for variant, figures in benchmark["summary"].items():
        parted, merging = figures["parting"]["parted"], figures["parting"]["merging"]
        rows.append(f"| {variant} | {parted['runs']} | {cell(parted, 'accuracy')} | {cell(parted, 'prior_total_variation')} "
                    f"| {merging['runs']} | {cell(merging, 'accuracy')} | {cell(merging, 'prior_total_variation')} |")  # fmt: skip
    gains = [*benchmark["paired_gains"].items(), *benchmark.get("paired_gains_against_reference", {}).items(), *benchmark.get("paired_gains_against_defaults", {}).items(),
             *benchmark.get("paired_gains_against_paper", {}).items(), *(item for gains in benchmark.get("paired_gains_against", {}).values() for item in gains.items())]
    if gains:
        rows += ["", "| variant | against | pairs (split, seed) | accuracy gain | wins | NMI gain | wins |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for variant, gain in gains:
        accuracy, nmi = gain["accuracy"], gain["nmi"]
        rows.append(
            f"| {variant} | {gain['baseline']} | {gain['pairs']} | {accuracy['mean']:+.3f} ± {accuracy['std']:.3f} | {accuracy['wins']}/{gain['pairs']} "
            f"| {nmi['mean']:+.3f} ± {nmi['std']:.3f} | {nmi['wins']}/{gain['pairs']} |"
        )
    if benchmark.get("targets"):
        rows += ["", f"| variant | splits | prior's total variation, averaged over the splits (target ≤ {TOTAL_VARIATION_TARGET}) | met | gain over | pairs | accuracy and NMI gains above their spread | accuracy and NMI a variant without spread would need |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for variant, verdict in benchmark.get("targets", {}).items():
        gain = benchmark["paired_gains"][variant]
        rows.append(
            f"| {variant} | {' '.join(map(str, verdict['splits']))} | {verdict['prior_total_variation_over_splits']:.3f} | {'yes' if verdict['prior_total_variation_met'] else 'no'} "
            f"| {verdict['baseline']} | {verdict['pairs']} | {'yes' if verdict['beats_uniform_met'] else 'no'}: {gain['accuracy']['mean']:+.3f} ± {gain['accuracy']['std']:.3f}, {gain['nmi']['mean']:+.3f} ± {gain['nmi']['std']:.3f} "
            f"| {gain['accuracy']['needed_without_spread']:.3f}, {gain['nmi']['needed_without_spread']:.3f} |"
        )
    return "\n".join(rows + ["", *per_run_table(benchmark["runs"], list(benchmark["summary"]))])


def per_run_table(runs: list[dict], variants: list[str]) -> list[str]:
    """A row per (split, seed), a column per variant: each run's accuracy, its prior's total variation from the
    classes and the pairs of classes sharing one of its categories (TWO_CLASS_PART each), so pairs read side by side."""
    by_pair = {}
    for run in runs:
        by_pair.setdefault((run["split"], run["seed"]), {})[run["variant"]] = run

    def cell(run: dict | None) -> str:
        if run is None:
            return ""
        shared = " ".join("+".join(map(str, pair)) for pair in run.get("two_class_categories") or [])
        return f"{run['accuracy']:.1%}, {run['prior_total_variation']:.3f}" + (f", {shared}" if shared else "")

    rows = [f"| split | seed | {' | '.join(variants)} |", f"| --- | --- |{' --- |' * len(variants)}"]
    for (split, seed), mine in sorted(by_pair.items()):
        rows.append(f"| {split} | {seed} | {' | '.join(cell(mine.get(variant)) for variant in variants)} |")
    return rows


def split_colours(splits: list[int]) -> dict[int, tuple[float, float, float, float]]:
    """A distinct colour for each split (RGBA): tab10's for up to ten, tab20's for up to twenty, viridis beyond
    (matplotlib's default cycle repeats after ten, and a 40-pair figure has 18 splits)."""
    import matplotlib

    name = "tab10" if len(splits) <= 10 else "tab20" if len(splits) <= 20 else "viridis"
    palette = matplotlib.colormaps[name].resampled(max(len(splits), 2))
    return {split: palette(index) for index, split in enumerate(splits)}


def draw_figure(benchmark: dict, path: Path) -> None:
    """A row per variant, a point per run, coloured by split: accuracy and the prior's distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants, splits = list(benchmark["summary"]), benchmark["splits"]
    # The splits are named in a legend of up to nine columns under the plots, its rows given their own height.
    legend_height = 0.25 * -(-len(splits) // 9)  # inches: a quarter per row of nine
    height = 1.5 + 0.35 * len(variants) + legend_height
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    colours = split_colours(splits)
    for row, variant in enumerate(variants):
        mine = [run for run in benchmark["runs"] if run["variant"] == variant]
        run_colours = [colours[run["split"]] for run in mine]
        left.scatter([100 * run["accuracy"] for run in mine], [row] * len(mine), color=run_colours, s=18)
        right.scatter([run["prior_total_variation"] for run in mine], [row] * len(mine), color=run_colours, s=18)
    left.set_yticks(range(len(variants)), variants)
    left.invert_yaxis()
    left.set_xlabel("clustering accuracy (%)")
    right.set_xlabel("prior's total variation from the classes")
    right.axvline(0.05, color="grey", linestyle=":", linewidth=1)  # the target
    for split, colour in colours.items():
        right.scatter([], [], color=colour, s=18, label=f"split {split}")
    figure.legend(loc="lower center", ncol=min(len(splits), 9), fontsize="small", frameon=False)
    figure.suptitle("Imbalanced MNIST: a point per run (split, seed)")
    figure.tight_layout(rect=(0, legend_height / height, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    refuse_to_drop_runs(args.results, args.variants, args.splits, args.seeds)
    studies = [(variant, split, args.output_dir / variant / f"split-{split}") for variant in args.variants for split in args.splits]
    if not args.summarize_only:
        # (variant, split) studies run `--parallel` at a time, each on its share of the cores (the
        # seeds of one study one after another): on a small CPU two one-thread runs go twice as fast as one two-thread run.
        threads = max(1, (os.cpu_count() or 1) // args.parallel)

        def run_study(variant: str, split: int, study_dir: Path) -> None:
            if variant in BRANCHES:
                for seed in args.seeds:
                    branch_from_twin(variant, args.output_dir, split, seed)
            preset, extra = VARIANTS[variant]
            train_arguments = ["--dataset", f"mnist_imbalanced_{split}", "--max_train_steps", str(args.steps), *extra, *args.train_arguments]
            seed_study.main(["--preset", preset, "--seeds", *map(str, args.seeds), "--output_dir", str(study_dir),
                             "--parallel", "1", "--threads_per_run", str(threads), "--", *train_arguments])  # fmt: skip
            if not args.keep_checkpoints:
                for seed in args.seeds:
                    prune_checkpoints(variant, study_dir / f"seed-{seed}")

        twins = {BRANCHES[variant][0] for variant in args.variants if variant in BRANCHES}
        for wave in ([study for study in studies if study[0] in twins], [study for study in studies if study[0] not in twins]):
            with ThreadPoolExecutor(args.parallel) as pool:
                for finished in [pool.submit(run_study, *study) for study in wave]:
                    finished.result()
    runs = [
        run_record(study_dir / f"seed-{seed}", variant, split, seed)
        for variant, split, study_dir in studies
        for seed in args.seeds
        if (study_dir / f"seed-{seed}" / seed_study.DONE_FILE).exists()
    ]
    kept_from = (args.results, *args.results_from)  # in this order: a run found earlier wins
    for results in kept_from:
        runs += runs_kept_from(results, runs, args.variants, args.splits, args.seeds)
    if not runs:
        raise SystemExit(f"No finished run under {args.output_dir} or in {', '.join(map(str, kept_from))}.")
    benchmark = {"splits": args.splits, "seeds": args.seeds, "steps": args.steps, "train_arguments": args.train_arguments,
                 "variants": {variant: {"preset": VARIANTS[variant][0], "train_arguments": VARIANTS[variant][1]} for variant in args.variants},
                 "runs": runs, "summary": summarize(runs, args.variants), "paired_gains": paired_gains(runs, args.variants),
                 "paired_gains_against_reference": paired_gains(runs, args.variants, baseline=REFERENCE),
                 "paired_gains_against_defaults": paired_gains(runs, [name for name in args.variants if name != REFERENCE], baseline=DEFAULTS),
                 "paired_gains_against_paper": paired_gains(runs, [name for name in args.variants if VARIANTS[name][0] != VARIANTS[PAPER][0]], baseline=PAPER, any_preset=True),
                 "paired_gains_against": {baseline: paired_gains(runs, args.variants, baseline=baseline) for baseline in args.against}}  # fmt: skip
    benchmark["targets"] = targets(runs, benchmark["paired_gains"], args.splits)
    write_json(args.results, benchmark)
    draw_figure(benchmark, args.results.with_suffix(".png"))
    print(table(benchmark))
    return benchmark


if __name__ == "__main__":
    main()
