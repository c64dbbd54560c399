"""Train an InfoGAN with Accelerate: `accelerate launch training/train.py --preset mnist`.

One file, top to bottom: arguments (a preset from training/configs/, overridable from the command
line), data in memory, the paper's two steps per iteration, checkpoints, logs, sample grids,
evaluation, the pipeline folder, and an optional push to the Hub. The category checks that
repair a categorical code mid-run (`--category_*`) are in category_repairs.py beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, broadcast, set_seed
from tqdm.auto import tqdm

from infogan_hub import (
    InfoGANDiscriminator,
    InfoGANGenerator,
    InfoGANPipeline,
    LatentSpec,
    categorical_consistency_loss,
    categorical_consistency_marginal,
    categorical_prior_loss,
    categorical_prior_em_update,
    categorical_prior_matching_loss,
    categorical_shares,
    categorical_size_barrier,
    continuous_warmup_factor,
    contrastive_consistency_loss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    information_terms,
)
from infogan_hub.augmentation import random_affine, random_stroke_width
from infogan_hub.category_split import BIMODAL_MIN_SHARE, RECUT_GAIN, SATELLITE_SOURCE_MIN_SHARE
from infogan_hub.classifier import classifier_name, load_classifier
from infogan_hub.data import ImageDataset, load_dataset
from infogan_hub.evaluation import (
    CANDIDATES_FILE, METRICS_FILE, RESULTS_FILE, TRAINING_CONFIG_FILE, best_clustering_scores, consistency_mutual_information, evaluate, write_json, write_results,
)  # fmt: skip
from infogan_hub.latent import CATEGORICAL_PRIORS, CONTINUOUS_PRIORS, CONTINUOUS_VARIANCES, NOISE_PRIORS, LatentBatch
from infogan_hub.losses import ADVERSARIAL_LOSSES
from infogan_hub.recluster import LINKAGES

from category_repairs import CATEGORY_SPLIT_IMAGES, RECLUSTER_IMAGES, CategoryRepairs, buffers_restored, recluster_categories, repairs_categories  # training/category_repairs.py

if TYPE_CHECKING:
    import PIL.Image

PRESETS_DIR = Path(__file__).parent / "configs"
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
# Written into each checkpoint beside accelerate's state: the run's settings and its time so far.
TRAINING_STATE_FILE = "training_state.json"
# With --candidate_runs, candidate k trains with seed --seed + k * CANDIDATE_SEED_STRIDE in candidates/seed-<seed>.
CANDIDATE_SEED_STRIDE = 1_000_000
# What a resumed run may change: how long it runs, what it logs and where it pushes; everything
# else changes the model, the data or the objective, so resuming with another value is refused.
RESUMABLE_SETTINGS = {
    "output_dir", "max_train_steps", "num_epochs", "mixed_precision", "checkpointing_steps", "checkpoints_total_limit",
    "resume_from_checkpoint", "logging_steps", "report_to", "sample_steps", "eval_steps", "eval_num_samples",
    "eval_dataset", "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo", "preset", "preset_path",
    "candidate_runs", "candidate_steps",  # how the run's start was chosen; the chosen checkpoint carries on
}  # fmt: skip
LEARNED_PRIOR_SETTINGS = {"gumbel_temperature", "prior_loss_weight", "prior_matching_weight", "prior_em_rate", "prior_em_shares", "prior_min_share", "prior_warmup_steps", "prior_em_holdout", "consistency_marginal", "learning_rate_prior"}
logger = get_logger(__name__)


# what the re-cluster at --category_recluster_step does, each meaningless without that step
RECLUSTER_OPTIONS = ("category_recluster_draws", "category_recluster_linkage", "category_recluster_elastic_strength", "category_recluster_min_agreement")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    preset_parser = argparse.ArgumentParser(add_help=False)
    preset_parser.add_argument("--preset", default="mnist")
    preset_args, _ = preset_parser.parse_known_args(argv)
    preset_path = Path(preset_args.preset)
    if not preset_path.suffix:
        preset_path = PRESETS_DIR / f"{preset_args.preset}.json"
    if not preset_path.exists():
        presets = sorted(path.stem for path in PRESETS_DIR.glob("*.json"))
        raise SystemExit(f"Unknown preset {preset_args.preset!r}: give a JSON file or one of {presets}.")

    parser = argparse.ArgumentParser(description=__doc__, parents=[preset_parser], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", help="mnist, fashion_mnist, an image folder, or a `datasets` name/folder")
    data.add_argument("--eval_dataset", default=None, help="labelled test split for clustering accuracy (default: the dataset's test split, if labelled)")

    latent = parser.add_argument_group("latent codes (see infogan_hub.LatentSpec)")
    latent.add_argument("--noise_dim", type=int)
    latent.add_argument("--categorical_codes", type=int, nargs="*", help="categories of each categorical code")
    latent.add_argument("--continuous_codes", type=int)
    latent.add_argument("--noise_prior", choices=NOISE_PRIORS)
    latent.add_argument("--continuous_prior", choices=CONTINUOUS_PRIORS)
    latent.add_argument("--continuous_variance", choices=CONTINUOUS_VARIANCES, default="learned", help="Q's variance for continuous codes")
    latent.add_argument("--categorical_prior", choices=CATEGORICAL_PRIORS, default="uniform",
                        help="the categorical codes' class probabilities: uniform, or learned with the generator (for imbalanced data)")
    latent.add_argument("--gumbel_temperature", type=float, default=0.1,
                        help="temperature of the Gumbel-softmax samples through which a learned prior is trained")
    latent.add_argument("--prior_loss_weight", type=float, default=0.0,
                        help="weight of the exact expected generator loss over a learned prior's categories (losses.categorical_prior_loss); 0: the Gumbel-softmax path alone, as in Elastic-InfoGAN")
    latent.add_argument("--prior_matching_weight", type=float, default=0.0,
                        help="weight of the cross entropy of a learned prior against Q's categories for real images (losses.categorical_prior_matching_loss); 0: off")
    latent.add_argument("--prior_em_rate", type=float, default=0.005,
                        help="after each D/Q step, move a learned prior this fraction of the way to the share of the batch's real images Q puts in each category (the M-step; losses.categorical_prior_em_update); 0: off")
    latent.add_argument("--prior_em_shares", choices=["hard", "soft"], default="hard",
                        help="the M-step's target: the share of real images whose most likely category is c (hard), or the mean of Q(c|x) (soft, flatter: Q learns on fakes)")
    latent.add_argument("--prior_em_holdout", type=float, default=0.0,
                        help="set aside this fraction of the training images, never shown to D, Q or the consistency term, and take the M-step's shares from Q's reading of them (the training images' shares are flattened by the consistency term's even marginal); 0: the D step's real batch")
    latent.add_argument("--prior_min_share", type=float, default=0.0,
                        help="the M-step's floor: no category's probability settles below this (below 1/categories); without it a category Q stops using dies and its class merges into another")
    latent.add_argument("--prior_warmup_steps", type=int, default=1000,
                        help="a learned prior stays uniform for this many steps, while the categories settle (neither its gradient terms nor the M-step move it)")
    latent.add_argument("--learning_rate_prior", type=float, default=0.005,
                        help="Adam's learning rate for a learned prior's logits (ten numbers moved by a noisy signal: five times G's)")

    model = parser.add_argument_group("model")
    model.add_argument("--image_size", type=int)
    model.add_argument("--channels", type=int)
    model.add_argument("--hidden_dim", type=int)
    model.add_argument("--base_channels", type=int)
    model.add_argument("--q_hidden_dim", type=int, default=128)
    model.add_argument("--spectral_norm", action=argparse.BooleanOptionalAction, default=False,
                       help="spectral normalisation instead of BatchNorm in D's trunk and real/fake head (InfoGAN-CR's D)")

    training = parser.add_argument_group("training")
    training.add_argument("--output_dir", type=Path, default=Path("output/infogan-mnist"))
    training.add_argument("--train_batch_size", type=int, help="per process")
    training.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_epochs")
    training.add_argument("--num_epochs", type=float)
    training.add_argument("--learning_rate_generator", type=float)
    training.add_argument("--learning_rate_discriminator", type=float)
    training.add_argument("--adam_beta1", type=float, default=0.5)
    training.add_argument("--adam_beta2", type=float, default=0.999)
    training.add_argument("--adversarial_loss", choices=ADVERSARIAL_LOSSES, default="non_saturating")
    training.add_argument("--info_weight", type=float, default=1.0,
                          help="scales the generator's information term; 0 gives the plain GAN of the paper's Figure 1, where Q is still trained to measure L_I")
    training.add_argument("--categorical_weight", type=float, help="lambda for categorical codes")
    training.add_argument("--continuous_weight", type=float, help="lambda for continuous codes")
    training.add_argument("--continuous_warmup_steps", type=int, default=0,
                          help="the continuous codes' weight is 0 for the first half of these steps, then ramps linearly to --continuous_weight; 0: full weight from the start")
    training.add_argument("--consistency_weight", type=float, default=0.0,
                          help="weight of IIC's consistency term on real images (Q's first categorical code for an image and a rotated, zoomed, shifted, bent copy); 0: off")
    training.add_argument("--consistency_entropy_weight", type=float, default=1.0,
                          help="IIC's lambda: weight of the term's marginal entropy (above 1: more pressure to use every category)")
    training.add_argument("--consistency_marginal", choices=["prior", "uniform"], default="prior",
                          help="with a learned prior, what the term's marginals are asked to follow: the prior (KL to it; better in 7 of 8 imbalanced-MNIST pairs, though a rare class's category can die) or the even split (IIC's entropy)")
    training.add_argument("--consistency_size_barrier", type=float, default=0.0,
                          help="weight of KL(uniform || Q's category shares on the consistency term's real images): a fixed force that keeps a rare class's category from emptying (which a prior following Q's shares does not resist), weak on moderately unequal sizes; 0: off")
    training.add_argument("--consistency_size_floor", type=float, default=None,
                          help="with the size barrier, only categories whose share is below this pay (at most 1 / categories); unset: every category is pulled towards even sizes")
    training.add_argument("--consistency_marginal_momentum", type=float, default=0.0,
                          help="the size terms (the consistency term's KL and the size barrier) read the categories' shares as a moving average over batches with this momentum (0.99: about 100 batches), not one batch's: a batch of 64 holds no image of a 2%% class one time in four; 0: the batch's")
    training.add_argument("--overclustering_weight", type=float, default=0.0,
                          help="weight of IIC's consistency term, with even categories, on a second head of Q with --overclustering_categories categories (IIC's overclustering head): it shapes the features Q's codes are read from, a rare class its own category there; 0: off (no such head)")
    training.add_argument("--overclustering_categories", type=int, default=50,
                          help="categories of the overclustering head (IIC on MNIST: 50), more than the data has classes")
    training.add_argument("--contrastive_weight", type=float, default=0.0,
                          help="weight of Elastic-InfoGAN's consistency term on real images: NT-Xent between Q's features of an image and of its transformed copy (the same copy as IIC's); 0: off")
    training.add_argument("--contrastive_temperature", type=float, default=1.0, help="NT-Xent's temperature (Elastic-InfoGAN: 1)")
    training.add_argument("--category_split_share", type=float, default=0.0,
                          help=f"at each --category_split_steps step, a category holding more than this share of the training images (Q's decisions on {CATEGORY_SPLIT_IMAGES} of them) is split in two along the direction its images vary most in Q's features, taking the place of the code's smallest category (category_split.split_category: two merged classes part); in (1 / categories, 1), above the largest class's share; 0: off")
    training.add_argument("--category_split_bimodality", type=float, default=0.0,
                          help=f"at the same steps, where no category is oversized, the category whose images fall most clearly in two modes in D's trunk features (category_split.two_means_bimodality, above this score; categories of at least {BIMODAL_MIN_SHARE * 100:.0f}%% of the images) is split the same way: two rare classes merged in one category part; in (2/pi, 1) (one Gaussian mode scores 2/pi); 0: off")
    training.add_argument("--category_satellite_leaving", type=float, default=0.0,
                          help=f"at the same steps, where neither splits, a code's smallest category whose images' transformed copies (the consistency term's) leave it above this rate (a satellite of a larger category of the same class) takes the place of the category (of at least {SATELLITE_SOURCE_MIN_SHARE * 100:.0f}%% of the images) whose own cut along Q's transform-invariant direction its copies cross least, split along it (category_split.satellite_split): the class merged into another gets a category; in (0, 1); 0: off")
    training.add_argument("--category_recut_crossing", type=float, default=0.0,
                          help=f"at the same steps, where none of those splits, the pair of categories (each of at least {BIMODAL_MIN_SHARE * 100:.0f}%% of the images) whose images' transformed copies (the consistency term's) cross between them above this rate is re-cut along the direction of Q's features that the transforms move least relative to its spread (category_split.invariant_direction), if the copies would cross that cut less than --category_recut_gain times as often: two categories that cut two classes by slant or width part them by class; in (0, 1); 0: off")
    training.add_argument("--category_recut_gain", type=float, default=RECUT_GAIN,
                          help="with --category_recut_crossing, how much less often the copies must cross the invariant cut than the pair now (category_split.recut_gain) for the re-cut to be made; positive")
    training.add_argument("--category_split_steps", type=int, nargs="+", default=[1500, 1750, 2000, 2250],
                          help="the steps at which --category_split_share, --category_split_bimodality, --category_satellite_leaving and --category_recut_crossing are checked (at most one split or re-cut per code at each)")
    training.add_argument("--category_recluster_step", type=int, default=0,
                          help=f"at this step (before its D/Q step; also on resuming there), each categorical code is re-seated on a re-clustering of D's trunk features of {RECLUSTER_IMAGES} training images: k-means with three clusters per category, merged by how often the images' transformed copies (the consistency term's) cross between them (infogan_hub.recluster); Q's logits are refitted to the new categories and the learned prior set to their shares. Under an even prior a common class takes two categories and two similar rare ones share one; this parts them. Use it where the prior starts to learn (--prior_warmup_steps); needs --categorical_prior learned; 0: off")
    training.add_argument("--category_recluster_draws", type=int, default=1,
                          help="with --category_recluster_step, draw this many re-clusters (k-means seeds) and keep the one agreeing most with the others (adjusted Rand index; infogan_hub.recluster.agreed_recluster); at least 1")
    training.add_argument("--category_recluster_linkage", choices=LINKAGES, default="size",
                          help="with --category_recluster_step, how the clusters are merged: size joins the two groups whose copies cross most, counted against the smaller group; modularity the two whose merge raises the crossing graph's modularity most, so a common class's clusters join before two large similar classes do (infogan_hub.recluster.crossing_merge)")
    training.add_argument("--category_recluster_elastic_strength", type=float, default=None,
                          help="with --category_recluster_step, the elastic warp of the transformed copies whose crossings the merge reads (at least 0; 0: rotated, zoomed and shifted only); default: the consistency term's --consistency_elastic_strength. Over 28 held runs' step-2000 features the warp carried a 4's copy into a 9's cluster as often as into another 4's")
    training.add_argument("--category_recluster_min_agreement", type=float, default=0.0,
                          help="with --category_recluster_step and --category_recluster_draws of 2 or more, a code whose re-clusters agree less than this (mean adjusted Rand index of the kept one with the others) keeps Q's categories and its prior: where the merge depends on the draw it is not trusted; in [0, 1]; 0: always re-cluster")
    training.add_argument("--consistency_elastic_strength", type=float, default=0.1,
                          help="largest elastic displacement of that copy, as a fraction of the side (0: affine only)")
    training.add_argument("--consistency_stroke_width", type=int, default=0,
                          help="that copy's strokes are also thinned or thickened by up to this many pixels (0: not)")
    training.add_argument("--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="default: accelerate config")
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--candidate_runs", type=int, default=1,
                          help=f"train this many runs (seeds --seed, --seed + {CANDIDATE_SEED_STRIDE}, ...) for --candidate_steps steps each and carry on with the one whose Q sorts the training images most consistently: the highest I(c; c') between an image's category and its transformed copy's (IIC's objective, no labels); 1: one run")
    training.add_argument("--candidate_steps", type=int, default=1000,
                          help="steps each candidate run trains before one is chosen: a multiple of --checkpointing_steps, below the run's steps")

    progress = parser.add_argument_group("checkpoints, logs, samples, evaluation")
    progress.add_argument("--checkpointing_steps", type=int, default=500)
    progress.add_argument("--checkpoints_total_limit", type=int, default=3)
    progress.add_argument("--resume_from_checkpoint", default=None, help='a checkpoint folder or "latest"')
    progress.add_argument("--logging_steps", type=int, default=50)
    progress.add_argument("--report_to", default="tensorboard", help='tracker for accelerate, or "none"')
    progress.add_argument("--sample_steps", type=int, default=1000)
    progress.add_argument("--eval_steps", type=int, default=0, help="evaluate and save the pipeline every N steps (0: at the end only)")
    progress.add_argument("--eval_num_samples", type=int, default=10_000)

    hub = parser.add_argument_group("hub")
    hub.add_argument("--push_to_hub", action="store_true")
    hub.add_argument("--hub_model_id", default=None)
    hub.add_argument("--hub_token", default=None)
    hub.add_argument("--hub_private_repo", action="store_true")

    preset = json.loads(preset_path.read_text())
    unknown = set(preset) - {action.dest for action in parser._actions}
    if unknown:
        raise SystemExit(f"Preset {preset_path} has unknown settings {sorted(unknown)}.")
    parser.set_defaults(**preset)
    args = parser.parse_args(argv)
    args.preset_path = str(preset_path)
    missing = [name for name, value in vars(args).items() if value is None and name in preset_defaults_required()]
    if missing:
        raise SystemExit(f"Preset {preset_path} leaves {missing} unset; give them on the command line.")
    if not args.gumbel_temperature > 0:
        raise SystemExit(f"--gumbel_temperature must be positive, got {args.gumbel_temperature}.")
    if args.prior_loss_weight < 0:
        raise SystemExit(f"--prior_loss_weight must be 0 (off) or positive, got {args.prior_loss_weight}.")
    if args.prior_matching_weight < 0:
        raise SystemExit(f"--prior_matching_weight must be 0 (off) or positive, got {args.prior_matching_weight}.")
    if not 0 <= args.prior_em_rate <= 1:
        raise SystemExit(f"--prior_em_rate must be 0 (off) or in (0, 1], got {args.prior_em_rate}.")
    if not 0 <= args.prior_em_holdout < 1:
        raise SystemExit(f"--prior_em_holdout must be 0 (off) or a fraction in (0, 1), got {args.prior_em_holdout}.")
    if args.prior_em_holdout and not (args.categorical_prior == "learned" and args.prior_em_rate):
        raise SystemExit("--prior_em_holdout sets images aside for the M-step: it needs --categorical_prior learned and --prior_em_rate above 0.")
    if args.categorical_codes and not 0 <= args.prior_min_share < 1 / max(args.categorical_codes):
        raise SystemExit(f"--prior_min_share must be at least 0 and below 1/{max(args.categorical_codes)} (one over the most categories of a code), got {args.prior_min_share}.")
    if args.prior_warmup_steps < 0:
        raise SystemExit(f"--prior_warmup_steps must be 0 (off) or positive, got {args.prior_warmup_steps}.")
    if not args.learning_rate_prior > 0:
        raise SystemExit(f"--learning_rate_prior must be positive, got {args.learning_rate_prior}.")
    if args.categorical_prior == "learned" and not args.categorical_codes:
        raise SystemExit("--categorical_prior learned needs a categorical code (--categorical_codes) to learn the prior of.")
    if args.continuous_warmup_steps < 0:
        raise SystemExit(f"--continuous_warmup_steps must be 0 (off) or positive, got {args.continuous_warmup_steps}.")
    if args.consistency_stroke_width < 0:
        raise SystemExit(f"--consistency_stroke_width must be 0 (off) or positive, got {args.consistency_stroke_width}.")
    if args.consistency_weight < 0:
        raise SystemExit(f"--consistency_weight must be 0 (off) or positive, got {args.consistency_weight}.")
    if args.contrastive_weight < 0:
        raise SystemExit(f"--contrastive_weight must be 0 (off) or positive, got {args.contrastive_weight}.")
    if not args.contrastive_temperature > 0:
        raise SystemExit(f"--contrastive_temperature must be positive, got {args.contrastive_temperature}.")
    if args.overclustering_weight < 0:
        raise SystemExit(f"--overclustering_weight must be 0 (off) or positive, got {args.overclustering_weight}.")
    if args.overclustering_weight and args.overclustering_categories < 2:
        raise SystemExit(f"--overclustering_categories must be at least 2 (IIC on MNIST: 50, more than the data has classes), got {args.overclustering_categories}.")
    if args.consistency_size_barrier < 0:
        raise SystemExit(f"--consistency_size_barrier must be 0 (off) or positive, got {args.consistency_size_barrier}.")
    if args.consistency_size_barrier and not args.consistency_weight:
        raise SystemExit("--consistency_size_barrier acts on the consistency term's categories: it needs --consistency_weight above 0.")
    if args.consistency_weight and not args.categorical_codes:
        raise SystemExit("--consistency_weight needs a categorical code (--categorical_codes) for Q to assign real images to.")
    if not 0 <= args.consistency_marginal_momentum < 1:
        raise SystemExit(f"--consistency_marginal_momentum must be 0 (off: each batch's shares) or in (0, 1), got {args.consistency_marginal_momentum}.")
    if args.consistency_marginal_momentum and not args.consistency_weight:
        raise SystemExit("--consistency_marginal_momentum averages the consistency term's category shares: it needs --consistency_weight above 0.")
    if args.consistency_size_floor is not None:
        if not args.consistency_size_barrier:
            raise SystemExit("--consistency_size_floor bounds the size barrier: it needs --consistency_size_barrier above 0.")
        if not 0 < args.consistency_size_floor <= 1 / args.categorical_codes[0]:
            raise SystemExit(f"--consistency_size_floor must be in (0, 1/{args.categorical_codes[0]}] (one over the consistency term's categories), got {args.consistency_size_floor}.")
    if repairs_categories(args):
        option = next(option for option, value in (("--category_split_share", args.category_split_share), ("--category_split_bimodality", args.category_split_bimodality),
                                                   ("--category_satellite_leaving", args.category_satellite_leaving), ("--category_recut_crossing", args.category_recut_crossing)) if value)  # fmt: skip
        if not args.categorical_codes:
            raise SystemExit(f"{option} splits categories of a categorical code: it needs --categorical_codes.")
        if args.category_split_share and not 1 / min(args.categorical_codes) < args.category_split_share < 1:
            raise SystemExit(f"--category_split_share must be 0 (off) or in (1/{min(args.categorical_codes)}, 1): above the even share, or every code would split at once; got {args.category_split_share}.")
        if args.category_split_bimodality and not 2 / math.pi < args.category_split_bimodality < 1:
            raise SystemExit(f"--category_split_bimodality must be 0 (off) or in (2/pi, 1) = (0.637, 1): one Gaussian mode already scores 2/pi, so a lower score would split every category; got {args.category_split_bimodality}.")
        if not 0 <= args.category_satellite_leaving < 1:
            raise SystemExit(f"--category_satellite_leaving must be 0 (off) or a rate in (0, 1) at which the smallest category's copies leave it; got {args.category_satellite_leaving}.")
        if not 0 <= args.category_recut_crossing < 1:
            raise SystemExit(f"--category_recut_crossing must be 0 (off) or a rate in (0, 1) at which two categories' copies cross between them; got {args.category_recut_crossing}.")
        if args.category_recut_gain <= 0:
            raise SystemExit(f"--category_recut_gain must be positive (the invariant cut's crossing over the pair's; below 1 asks it to cross less); got {args.category_recut_gain}.")
        if min(args.category_split_steps) <= 0:
            raise SystemExit(f"--category_split_steps must be positive steps, got {args.category_split_steps}.")
    if args.category_recluster_step:
        if args.categorical_prior != "learned":
            raise SystemExit(f"--category_recluster_step sets the prior to the new categories' shares: it needs --categorical_prior learned, got {args.categorical_prior!r}.")
        if args.category_recluster_step < 0 or (args.max_train_steps is not None and args.category_recluster_step > args.max_train_steps):
            raise SystemExit(f"--category_recluster_step must be 0 (off) or a step in [1, --max_train_steps] (at most {args.max_train_steps}; at the last step, the run resumed from there re-clusters), got {args.category_recluster_step}.")
        if args.category_recluster_draws < 1:
            raise SystemExit(f"--category_recluster_draws must be at least 1 (re-clusters drawn), got {args.category_recluster_draws}.")
        if not 0 <= args.category_recluster_min_agreement <= 1:
            raise SystemExit(f"--category_recluster_min_agreement must be in [0, 1] (an adjusted Rand index; 0: always re-cluster), got {args.category_recluster_min_agreement}.")
        if args.category_recluster_elastic_strength is not None and args.category_recluster_elastic_strength < 0:
            raise SystemExit(f"--category_recluster_elastic_strength must be at least 0 (0: no elastic warp), got {args.category_recluster_elastic_strength}.")
        if args.category_recluster_min_agreement > 0 and args.category_recluster_draws < 2:
            raise SystemExit(f"--category_recluster_min_agreement {args.category_recluster_min_agreement} measures how re-clusters agree: it needs --category_recluster_draws of 2 or more, got {args.category_recluster_draws}.")
    elif shaping := [f"--{name}" for name in RECLUSTER_OPTIONS if getattr(args, name) != parser.get_default(name)]:
        raise SystemExit(f"--category_recluster_step is 0 (off), so there is no re-cluster for {', '.join(shaping)} to shape: give it a step, or leave them out.")
    if args.candidate_runs < 1:
        raise SystemExit(f"--candidate_runs must be 1 (one run) or more, got {args.candidate_runs}.")
    if args.candidate_runs > 1:
        if not args.categorical_codes:
            raise SystemExit("--candidate_runs chooses by how consistently Q's first categorical code sorts real images: it needs --categorical_codes.")
        if args.candidate_steps <= 0 or args.candidate_steps % args.checkpointing_steps:
            raise SystemExit(f"--candidate_steps must be a positive multiple of --checkpointing_steps ({args.checkpointing_steps}), so the chosen run carries on from its checkpoint; got {args.candidate_steps}.")
        if args.max_train_steps is not None and args.candidate_steps >= args.max_train_steps:
            raise SystemExit(f"--candidate_steps ({args.candidate_steps}) must be below --max_train_steps ({args.max_train_steps}): the chosen candidate carries on to the end.")
    if args.push_to_hub and not args.hub_model_id:
        raise SystemExit("--push_to_hub needs --hub_model_id (e.g. user/infogan-mnist).")
    return args


def preset_defaults_required() -> set[str]:
    return {
        "dataset", "noise_dim", "categorical_codes", "continuous_codes", "noise_prior", "continuous_prior", "image_size",
        "channels", "hidden_dim", "base_channels", "train_batch_size", "learning_rate_generator",
        "learning_rate_discriminator", "categorical_weight", "continuous_weight",
    }  # fmt: skip


def build_models(args: argparse.Namespace) -> tuple[InfoGANGenerator, InfoGANDiscriminator]:
    spec = LatentSpec.from_config(vars(args))  # the spec picks its own fields out of the arguments
    architecture = dict(image_size=args.image_size, channels=args.channels, hidden_dim=args.hidden_dim, base_channels=args.base_channels)
    return (
        InfoGANGenerator(**spec.to_config(), **architecture),
        InfoGANDiscriminator(**spec.to_config(), **architecture, q_hidden_dim=args.q_hidden_dim, spectral_norm=args.spectral_norm,
                             q_overclustering_categories=args.overclustering_categories if args.overclustering_weight else 0),
    )


# --- checkpoints: written to a partial folder, renamed when complete ---------------------------------
def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    found = [(int(match.group(1)), path) for path in output_dir.glob("checkpoint-*") if (match := CHECKPOINT_PATTERN.match(path.name))]
    return sorted(found)


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, total_limit: int | None, state: dict) -> None:
    """accelerate's state plus `state` (the run's settings and elapsed time) as checkpoint-`step`."""
    final, partial = output_dir / f"checkpoint-{step}", output_dir / f".partial-checkpoint-{step}"
    accelerator.save_state(str(partial))  # every process writes its own random states
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        move_checkpoint_into_place(partial, final, state)
        if total_limit:
            for _, old in list_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()


def move_checkpoint_into_place(partial: Path, final: Path, state: dict) -> None:
    """Writes `state` into the complete checkpoint folder `partial` and renames it `final`,
    replacing any folder there: atomic, so "latest" never names a half-written folder."""
    (partial / TRAINING_STATE_FILE).write_text(json.dumps(state, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)


def resolve_checkpoint(output_dir: Path, resume_from: str) -> Path | None:
    if resume_from != "latest":
        path = Path(resume_from)
        if not CHECKPOINT_PATTERN.match(path.name) or not path.is_dir():
            raise SystemExit(f"--resume_from_checkpoint {resume_from!r} is not a checkpoint-N folder; use one or 'latest'.")
        return path
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1][1] if checkpoints else None


def run_settings(args: argparse.Namespace, num_processes: int) -> dict:
    """The settings that define a run (all but RESUMABLE_SETTINGS, and a learned prior's settings
    when the prior is uniform: they change nothing then), as JSON values."""
    unused = LEARNED_PRIOR_SETTINGS if args.categorical_prior != "learned" else set()
    settings = {key: value for key, value in vars(args).items() if key not in RESUMABLE_SETTINGS | unused}
    return json.loads(json.dumps({**settings, "num_processes": num_processes}, default=str))


def load_training_state(checkpoint: Path, settings: dict) -> dict:
    """The checkpoint's recorded state, after checking that its settings are this run's.

    Checkpoints from before the state file was written are checked against the run folder's
    training_config.json, the record of the run that wrote them. A setting missing from the
    record (an option added since) is not compared.
    """
    state_file, config_file = checkpoint / TRAINING_STATE_FILE, checkpoint.parent / TRAINING_CONFIG_FILE
    if state_file.exists():
        state = json.loads(state_file.read_text())
    else:
        state = {"settings": json.loads(config_file.read_text()) if config_file.exists() else {}, "elapsed_seconds": 0.0}
    recorded = state["settings"]
    differences = [f"{key} {recorded[key]!r} (now {value!r})" for key, value in settings.items() if key in recorded and recorded[key] != value]
    if differences:
        raise SystemExit(
            f"Cannot resume from {checkpoint}: it was trained with other settings: {'; '.join(differences)}. "
            f"Resume with the same settings (only {sorted(RESUMABLE_SETTINGS - {'preset_path', 'hub_token'})} may change), "
            f"or start a new run: give a new --output_dir, or move {checkpoint.parent} away."
        )
    return state


# --- outputs of the main process ------------------------------------------------------------
def sample_grids(pipeline: InfoGANPipeline, seed: int) -> dict[str, PIL.Image.Image]:
    """One grid per continuous code (rows: the first categorical code's values), with fixed noise."""
    spec = pipeline.latent_spec
    row_code = spec.code_names[0] if spec.categorical_codes else None
    column_codes = [name for name in spec.code_names if name != row_code] or [row_code]
    grids = {}
    for code in column_codes:
        traversal = pipeline.traverse(code, row_code=row_code, generator=torch.Generator().manual_seed(seed), steps=8)
        grids[code] = traversal.grid
    return grids


def split_holdout(dataset: ImageDataset, fraction: float, seed: int, batch_size: int, process_index: int, world: int) -> tuple[ImageDataset, ImageDataset]:
    """The training images, and this process's shard of the `fraction` set aside for the M-step.
    The split is seeded, so every process (and a resumed run) sets aside the same images."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).to(dataset.images.device)
    held = round(fraction * len(dataset))
    if held // world < batch_size:
        raise SystemExit(
            f"--prior_em_holdout {fraction} sets aside {held} of {len(dataset)} images: fewer than one batch of {batch_size} "
            f"on each of {world} processes. Give a fraction of at least {batch_size * world / len(dataset):.3g}."
        )
    return dataset.subset(order[held:]), dataset.subset(order[:held][process_index::world])


def save_pipeline(pipeline: InfoGANPipeline, output_dir: Path) -> None:
    """save_pretrained into a partial folder, then move each part into place."""
    partial = output_dir / ".partial-pipeline"
    shutil.rmtree(partial, ignore_errors=True)
    pipeline.save_pretrained(partial)
    for item in sorted(partial.iterdir(), key=lambda path: path.name == "model_index.json"):  # the index goes last
        target = output_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    partial.rmdir()


def code_revision() -> str:
    """The git commit this script ran from (marked "-dirty" with uncommitted changes), for the card."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=Path(__file__).parent, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def redact_hub_token(arguments: list[str]) -> list[str]:
    """The command-line arguments with the value of --hub_token, in either form, replaced."""
    redacted = []
    for index, argument in enumerate(arguments):
        if argument.startswith("--hub_token="):
            argument = "--hub_token=<token>"
        elif index and arguments[index - 1] == "--hub_token":
            argument = "<token>"
        redacted.append(argument)
    return redacted


def consistency_copy(args: argparse.Namespace, images: torch.Tensor, generator: torch.Generator, elastic_strength: float | None = None) -> torch.Tensor:
    """The consistency term's transformed copy of real images: thinner or thicker strokes, then
    rotated, zoomed, shifted and bent (by `elastic_strength`, default the term's), each image by its own random amounts."""
    copies = random_stroke_width(images, generator=generator, max_radius=args.consistency_stroke_width)
    strength = args.consistency_elastic_strength if elastic_strength is None else elastic_strength
    return random_affine(copies, generator=generator, elastic_strength=strength)


# --- candidate runs: several seeds train a while, the most consistent one carries on ---------------
def candidate_runs(args: argparse.Namespace) -> list[argparse.Namespace]:
    """Each candidate's arguments: its own seed and folder, --candidate_steps steps, no push."""
    return [
        argparse.Namespace(**{**vars(args), "seed": seed, "output_dir": args.output_dir / "candidates" / f"seed-{seed}",
                              "max_train_steps": args.candidate_steps, "candidate_runs": 1, "push_to_hub": False, "resume_from_checkpoint": "latest"})
        for seed in (args.seed + index * CANDIDATE_SEED_STRIDE for index in range(args.candidate_runs))
    ]  # fmt: skip


def candidate_finished(candidate: argparse.Namespace) -> bool:
    """Whether the candidate was trained and evaluated to its last step (its results file is written last)."""
    results = candidate.output_dir / RESULTS_FILE
    return results.exists() and json.loads(results.read_text())["step"] == candidate.max_train_steps


def choose_candidate(accelerator: Accelerator, args: argparse.Namespace) -> int:
    """The seed of the candidate run to carry on. The first time, the main process scores every
    candidate by `consistency_mutual_information` on the training images (no labels), copies the
    chosen one's checkpoint and metrics into the run's folder and records all in CANDIDATES_FILE."""
    output_dir, step = args.output_dir, args.candidate_steps
    record_file = output_dir / CANDIDATES_FILE
    # Every process reads the record before the barrier below; one that reads it after the main process
    # has written it finds the same seed, so all of them reach the barrier either way.
    on_record = chosen_seed_on_record(args)
    if accelerator.is_main_process and on_record is None:
        dataset = load_dataset(args.dataset, "train", image_size=args.image_size, channels=args.channels).to(accelerator.device)
        candidates, folders = [], {candidate.seed: candidate.output_dir for candidate in candidate_runs(args)}
        for seed, folder in folders.items():
            discriminator = InfoGANDiscriminator.from_pretrained(folder / "discriminator").to(accelerator.device)
            score = consistency_mutual_information(discriminator, dataset, lambda images, generator: consistency_copy(args, images, generator), seed=args.seed)
            state = json.loads((folder / f"checkpoint-{step}" / TRAINING_STATE_FILE).read_text())
            measured = best_clustering_scores(json.loads((folder / RESULTS_FILE).read_text())) or {}  # recorded, never used to choose
            candidates.append({"seed": seed, "consistency_mutual_information": score, "elapsed_seconds": state["elapsed_seconds"], **measured})
        chosen = max(candidates, key=lambda candidate: candidate["consistency_mutual_information"])
        source = folders[chosen["seed"]]
        final, partial = output_dir / f"checkpoint-{step}", output_dir / f".partial-checkpoint-{step}"
        shutil.copytree(source / f"checkpoint-{step}", partial)
        state = json.loads((partial / TRAINING_STATE_FILE).read_text())
        state["elapsed_seconds"] = sum(candidate["elapsed_seconds"] for candidate in candidates)  # the run's time is all the candidates'
        move_checkpoint_into_place(partial, final, state)
        shutil.copyfile(source / METRICS_FILE, output_dir / METRICS_FILE)  # the chosen run's history up to here
        record = {"criterion": "consistency_mutual_information", "step": step, "chosen_seed": chosen["seed"], "candidates": candidates}
        write_json(record_file, record)  # written last: its presence means the choice is complete
    accelerator.wait_for_everyone()
    return on_record if on_record is not None else json.loads(record_file.read_text())["chosen_seed"]


def chosen_seed_on_record(args: argparse.Namespace) -> int | None:
    """The seed the run carries on with, if the choice among candidates is on record: in its
    CANDIDATES_FILE or, in a run folder copied without that file, in the state of a checkpoint
    written after the choice. None: the candidates are still to be trained and chosen among."""
    record_file = args.output_dir / CANDIDATES_FILE
    if record_file.exists():
        return json.loads(record_file.read_text())["chosen_seed"]
    later = [path / TRAINING_STATE_FILE for step, path in list_checkpoints(args.output_dir) if step > args.candidate_steps]
    later = [state_file for state_file in later if state_file.exists()]
    return json.loads(later[-1].read_text())["settings"]["seed"] if later else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    arguments = redact_hub_token(list(sys.argv[1:] if argv is None else argv))  # the recorded command is published in the model card
    if args.candidate_runs > 1 and chosen_seed_on_record(args) is None:
        for candidate in candidate_runs(args):
            if not candidate_finished(candidate):
                train(candidate, arguments)
    train(args, arguments)


def train(args: argparse.Namespace, arguments: list[str]) -> None:
    """One run of `args`, recorded with the command line `arguments`."""
    run_started = time.monotonic()
    output_dir: Path = args.output_dir
    # When D wins, tiny gradients turn into denormal floats, which x86 CPUs process many times slower.
    torch.set_flush_denormal(True)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # D runs twice (real, fake) before one backward; broadcasting BatchNorm buffers at each
        # forward would modify tensors autograd still needs. Each process keeps its own running
        # statistics instead, and the main process's are saved.
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)],
    )
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        for stale in output_dir.glob(".partial-*"):  # left by a killed run
            shutil.rmtree(stale)
    accelerator.wait_for_everyone()
    if args.candidate_runs > 1:  # carry on from the chosen candidate, with its seed (the data order and latents follow it)
        args.seed, args.resume_from_checkpoint = choose_candidate(accelerator, args), args.resume_from_checkpoint or "latest"

    set_seed(args.seed)  # the same initial weights on every process
    image_generator, discriminator = build_models(args)
    spec = image_generator.latent_spec
    # A learned prior is ten numbers moved by a noisy signal: it gets its own learning rate.
    prior_parameters = [image_generator.categorical_prior_logits] if spec.categorical_prior == "learned" else []
    generator_parameters = [{"params": [p for p in image_generator.parameters() if all(p is not q for q in prior_parameters)]}]
    if prior_parameters:
        generator_parameters.append({"params": prior_parameters, "lr": args.learning_rate_prior})
    generator_optimizer = torch.optim.Adam(generator_parameters, args.learning_rate_generator, betas=(args.adam_beta1, args.adam_beta2))
    discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), args.learning_rate_discriminator, betas=(args.adam_beta1, args.adam_beta2))

    with accelerator.main_process_first():
        dataset = load_dataset(args.dataset, "train", image_size=args.image_size, channels=args.channels)
    dataset = dataset.to(accelerator.device)
    batch_size, world = args.train_batch_size, accelerator.num_processes
    holdout = None
    if args.prior_em_holdout:  # images the M-step alone reads
        dataset, holdout = split_holdout(dataset, args.prior_em_holdout, args.seed, batch_size, accelerator.process_index, world)
    steps_per_epoch = len(dataset) // world // batch_size
    if steps_per_epoch == 0:
        raise SystemExit(f"{len(dataset)} images are fewer than one batch of {batch_size} on each of {world} processes.")
    max_train_steps = args.max_train_steps or math.ceil(args.num_epochs * steps_per_epoch)
    if args.candidate_runs > 1 and max_train_steps <= args.candidate_steps:
        raise SystemExit(f"--candidate_steps ({args.candidate_steps}) must be below the run's {max_train_steps} steps: the chosen candidate carries on to the end.")

    image_generator, discriminator, generator_optimizer, discriminator_optimizer = accelerator.prepare(
        image_generator, discriminator, generator_optimizer, discriminator_optimizer
    )

    global_step, settings, elapsed_before = 0, run_settings(args, world), 0.0
    # the size terms' moving average of the consistency term's category shares, bias-corrected as Adam's moments
    momentum = args.consistency_marginal_momentum
    running_shares = torch.zeros(spec.categorical_codes[0], device=accelerator.device) if momentum else None
    if args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(output_dir, args.resume_from_checkpoint)
        if checkpoint is None:
            accelerator.print(f"No checkpoint in {output_dir}; starting a new run.")
        else:
            state = load_training_state(checkpoint, settings)
            elapsed_before = state["elapsed_seconds"]
            if running_shares is not None:
                if "consistency_running_shares" not in state:
                    raise SystemExit(f"{checkpoint} was written without --consistency_marginal_momentum; resume it without that option.")
                running_shares = torch.tensor(state["consistency_running_shares"], device=accelerator.device)
            accelerator.load_state(str(checkpoint))  # weights and optimizers
            global_step = int(CHECKPOINT_PATTERN.match(checkpoint.name).group(1))
            accelerator.print(f"Resumed from {checkpoint} at step {global_step}.")

    if accelerator.is_main_process:
        command = "accelerate launch training/train.py " + shlex.join(arguments)
        config = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items() if key != "hub_token"}
        # torch and its CPU kernels (AVX2, AVX512): the same seed and code give other results on another machine
        record = {**config, "command": command, "code_revision": code_revision(), "num_processes": world, "device": str(accelerator.device),
                  "torch_version": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}  # fmt: skip
        write_json(output_dir / TRAINING_CONFIG_FILE, record)
    accelerator.init_trackers("infogan", config={key: str(value) for key, value in vars(args).items() if key != "hub_token"})

    eval_dataset = None
    if accelerator.is_main_process and spec.categorical_codes:
        try:
            eval_dataset = load_dataset(args.eval_dataset or args.dataset, "test", image_size=args.image_size, channels=args.channels)
        except (FileNotFoundError, ValueError) as error:
            logger.warning(f"No labelled test split, so no clustering accuracy: {error}", main_process_only=True)
    # an instrument of measurement only: what generated categories draw
    classifier_for = args.eval_dataset or str(args.dataset)
    classifier_for = classifier_for if accelerator.is_main_process and spec.categorical_codes and classifier_name(classifier_for) else None
    classifier = None

    def evaluation_classifier(warn: bool = False) -> torch.nn.Module | None:
        """The evaluation classifier, looked for at every evaluation until it is found: one built while
        the run trains (`run.sh setup` builds them after the data) measures the evaluations after it."""
        nonlocal classifier
        if classifier is None and classifier_for:
            try:
                classifier = load_classifier(classifier_for)
            except FileNotFoundError as error:
                if warn:
                    logger.warning(f"Not measuring what each category draws until it is built: {error}", main_process_only=True)
        return classifier

    evaluation_classifier(warn=True)

    # Q (with D) always learns to recognise the codes, so L_I is measured even for the plain GAN;
    # --info_weight decides how much the generator is asked to make them recognisable.
    def information_weights(step: int) -> tuple[dict, dict]:
        """The lambdas of L_I at `step` for D/Q and for G (the continuous one warms up)."""
        continuous = args.continuous_weight * continuous_warmup_factor(step, args.continuous_warmup_steps)
        weights = dict(categorical_weight=args.categorical_weight, continuous_weight=continuous)
        return weights, {name: args.info_weight * weight for name, weight in weights.items()}

    lower_bound_names = spec.code_names

    def elapsed_seconds() -> float:
        """Wall time of the run so far, resumed parts included, lost work after a checkpoint not."""
        return elapsed_before + time.monotonic() - run_started

    def epoch_order(epoch: int) -> torch.Tensor:
        # The same permutation on every process (seeded by epoch), each taking its own shard.
        permutation = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(args.seed * 100_003 + epoch))
        return permutation[accelerator.process_index :: world][: steps_per_epoch * batch_size].to(accelerator.device)

    def unwrapped_pipeline() -> InfoGANPipeline:
        return InfoGANPipeline(accelerator.unwrap_model(image_generator), accelerator.unwrap_model(discriminator))

    def evaluate_and_save(step: int) -> None:
        pipeline = unwrapped_pipeline()
        pipeline.image_generator.eval(), pipeline.discriminator.eval()
        results = evaluate(pipeline.image_generator, pipeline.discriminator, eval_dataset, args.eval_num_samples, seed=args.seed, classifier=evaluation_classifier())
        results["step"] = step
        results["elapsed_seconds"] = elapsed_seconds()
        save_pipeline(pipeline, output_dir)
        write_results(results, output_dir)  # last: a results file at a step means its pipeline is saved (candidate_finished)
        pipeline.image_generator.train(), pipeline.discriminator.train()
        logs = {f"eval/lower_bound/{name}": value for name, value in results["mutual_information_lower_bound"].items()}
        if (scores := best_clustering_scores(results)) is not None:
            logs |= {"eval/clustering_accuracy": scores["accuracy"], "eval/nmi": scores["nmi"], "eval/ari": scores["ari"]}
        if generation := results.get("generation"):  # what the categories draw, read by the evaluation classifier
            drawn = next(iter(generation["codes"].values()))
            logs |= {"eval/generated_accuracy": drawn["accuracy"], "eval/generated_ent": drawn["ent"]}
        if usage := results.get("category_usage"):  # label-free: an empty or doubled category shows here
            logs["eval/category_min_share"] = next(iter(usage["codes"].values()))["min_share"]
        logs["eval/elapsed_seconds"] = results["elapsed_seconds"]
        record_metrics(step, logs)
        accelerator.print(f"step {step}: " + ", ".join(f"{key.split('/')[-1]} {value:.4f}" for key, value in logs.items()))

    def record_metrics(step: int, logs: dict) -> None:
        accelerator.log(logs, step=step)
        with open(output_dir / METRICS_FILE, "a") as file:
            file.write(json.dumps({"step": step, **logs}) + "\n")

    def write_samples(step: int) -> None:
        pipeline = unwrapped_pipeline()
        pipeline.image_generator.eval()
        (output_dir / "samples").mkdir(exist_ok=True)
        for code, grid in sample_grids(pipeline, args.seed).items():
            grid.save(output_dir / "samples" / f"step-{step:06d}-{code}.png")
            if tracker := next((t for t in accelerator.trackers if t.name == "tensorboard"), None):
                import numpy as np

                tracker.writer.add_image(f"samples/{code}", np.asarray(grid), step, dataformats="HWC")
        pipeline.image_generator.train()

    # the category checks at --category_split_steps (category_repairs.py)
    repairs = CategoryRepairs(args, accelerator.print, record_metrics if accelerator.is_main_process else None) if repairs_categories(args) else None

    def recluster_categories_now(step: int) -> None:
        """--category_recluster_step (category_repairs.recluster_categories), the main process's result given to every process."""
        unwrapped_generator, unwrapped_discriminator = accelerator.unwrap_model(image_generator), accelerator.unwrap_model(discriminator)
        metrics = recluster_categories(step, unwrapped_generator, unwrapped_discriminator, dataset, batch_size,
                                       lambda images, generator: consistency_copy(args, images, generator, args.category_recluster_elastic_strength), args.seed, accelerator.print,
                                       args.category_recluster_draws, args.category_recluster_min_agreement, args.category_recluster_linkage)  # fmt: skip
        if accelerator.num_processes > 1:  # BatchNorm's running statistics differ between processes (broadcast_buffers=False)
            for tensor in (unwrapped_discriminator.q_head[-1].weight, unwrapped_discriminator.q_head[-1].bias, unwrapped_generator.categorical_prior_logits):
                tensor.data.copy_(broadcast(tensor.data.clone(), from_process=0))
        if accelerator.is_main_process:
            record_metrics(step, metrics)

    progress_bar = tqdm(total=max_train_steps, initial=global_step, disable=not accelerator.is_local_main_process, desc="steps")
    order, order_epoch = None, -1
    latent_generator = torch.Generator()
    timings = {"discriminator": 0.0, "generator": 0.0}
    image_generator.train(), discriminator.train()
    while global_step < max_train_steps:
        if args.category_recluster_step and global_step == args.category_recluster_step:  # at the step's start: resumed from that step's checkpoint, it re-clusters as it did
            recluster_categories_now(global_step)
        epoch, position = divmod(global_step, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(epoch), epoch
        real = dataset.batch(order[position * batch_size : (position + 1) * batch_size])
        # Latents depend only on (seed, process, step): a resumed run draws exactly what the
        # uninterrupted one would have, without restoring random states from a pickle.
        latent_generator.manual_seed(hash((args.seed, accelerator.process_index, global_step)) & 0xFFFF_FFFF_FFFF)
        latents = spec.sample(batch_size, generator=latent_generator, device=accelerator.device)
        prior, prior_frozen = None, global_step < args.prior_warmup_steps
        if spec.categorical_prior == "learned":  # categories drawn through a relaxation, so G's loss trains their prior
            prior_logits = accelerator.unwrap_model(image_generator).categorical_prior_logits
            categories, one_hot = spec.sample_relaxed_categorical(prior_logits, batch_size, args.gumbel_temperature, latent_generator)
            latents = LatentBatch(latents.noise, categories, latents.continuous, one_hot)
            prior = [p.detach() for p in accelerator.unwrap_model(image_generator).categorical_prior()]

        # Discriminator and Q step: the GAN loss plus lambda * L_I on the fakes (Q shares D's trunk).
        # Real and fake go through D separately, so BatchNorm sees the same fake-only batches here
        # as in the generator step (a mixed batch lets D win on statistics G never faces).
        weights, generator_weights = information_weights(global_step)
        started = time.perf_counter()
        fake = image_generator(spec.generator_input(latents))
        real_output = discriminator(real)
        fake_output = discriminator(fake.detach())
        terms = information_terms(spec, spec.split_q_output(fake_output.q_output), latents, categorical_probabilities=prior)
        discriminator_loss = discriminator_adversarial_loss(real_output.logits.float(), fake_output.logits.float()) + terms.loss(**weights)
        if args.consistency_weight or args.contrastive_weight or args.overclustering_weight:  # Q's reading of a real image must survive rotation, zoom and shift
            transformed = consistency_copy(args, real, latent_generator)
            transformed_output = discriminator(transformed)
        if args.consistency_weight:  # its category (IIC), the categories sized evenly or as the prior
            categories = [spec.split_q_output(output.q_output).categorical_logits[0] for output in (real_output, transformed_output)]
            running_marginal = None
            if running_shares is not None:  # the size terms read the shares of recent batches, not of this one alone
                with torch.no_grad():
                    batch_shares = accelerator.reduce(categorical_consistency_marginal(*categories), reduction="mean")
                    running_shares.mul_(momentum).add_(batch_shares, alpha=1 - momentum)
                running_marginal = running_shares / (1 - momentum ** (global_step + 1))
            consistency = categorical_consistency_loss(
                *categories,
                marginal_entropy_weight=args.consistency_entropy_weight,
                # a learned prior: real images' categories follow it, unless asked to stay even
                prior=None if prior is None or args.consistency_marginal == "uniform" else prior[0],
                running_marginal=running_marginal,
            )
            discriminator_loss = discriminator_loss + args.consistency_weight * consistency
        if args.consistency_size_barrier:  # and none of them may empty
            size_barrier = categorical_size_barrier(*categories, floor=args.consistency_size_floor, running_marginal=running_marginal)
            discriminator_loss = discriminator_loss + args.consistency_size_barrier * size_barrier
        if args.overclustering_weight:  # and its category among many more than the classes, sized evenly (IIC's overclustering)
            overclustering = categorical_consistency_loss(real_output.overclustering_logits, transformed_output.overclustering_logits)
            discriminator_loss = discriminator_loss + args.overclustering_weight * overclustering
        if args.contrastive_weight:  # its features, which must pick out its own copy among the batch's (Elastic-InfoGAN)
            contrastive = contrastive_consistency_loss(real_output.q_features, transformed_output.q_features, args.contrastive_temperature)
            discriminator_loss = discriminator_loss + args.contrastive_weight * contrastive
        discriminator_optimizer.zero_grad(set_to_none=True)
        accelerator.backward(discriminator_loss)
        discriminator_optimizer.step()
        if prior is not None and args.prior_em_rate and not prior_frozen:  # the M-step: the prior follows Q's share of real images per category
            with torch.no_grad():
                if holdout is None:
                    em_output = real_output
                else:  # read as the D step reads its real batch (batch statistics), leaving no trace
                    positions = torch.arange(global_step * batch_size, (global_step + 1) * batch_size, device=accelerator.device) % len(holdout)
                    unwrapped_discriminator = accelerator.unwrap_model(discriminator)
                    with buffers_restored(unwrapped_discriminator):
                        em_output = unwrapped_discriminator(holdout.batch(positions))
                shares = accelerator.reduce(categorical_shares(spec.split_q_output(em_output.q_output).categorical_logits, hard=args.prior_em_shares == "hard"), reduction="mean")
                prior_logits.copy_(categorical_prior_em_update(prior_logits, spec.categorical_codes, shares, args.prior_em_rate, args.prior_min_share))
        middle = time.perf_counter()

        # Generator step: fool D and be recognisable by Q (equation 5). With --info_weight 0 the
        # information term still enters with weight 0, so DDP sees the Q head used.
        output = discriminator(fake)
        terms = information_terms(spec, spec.split_q_output(output.q_output), latents, categorical_probabilities=prior)
        sample_losses = generator_adversarial_loss(output.logits.float(), args.adversarial_loss, reduction="none")
        generator_loss = sample_losses.mean() + terms.loss(**generator_weights)
        prior_terms = prior is not None and not prior_frozen
        if prior_terms and (args.prior_loss_weight or args.prior_matching_weight):
            learned_prior = accelerator.unwrap_model(image_generator).categorical_prior()  # differentiable, unlike `prior`
        if prior_terms and args.prior_loss_weight:  # each category's probability follows D's verdict on its fakes
            generator_loss = generator_loss + args.prior_loss_weight * sum(
                categorical_prior_loss(probabilities, latents.categorical[:, index], sample_losses)
                for index, probabilities in enumerate(learned_prior)
            )
        if prior_terms and args.prior_matching_weight:  # and the share of real images Q puts in it
            real_logits = spec.split_q_output(real_output.q_output).categorical_logits
            generator_loss = generator_loss + args.prior_matching_weight * sum(
                categorical_prior_matching_loss(probabilities, logits) for probabilities, logits in zip(learned_prior, real_logits)
            )
        generator_optimizer.zero_grad(set_to_none=True)
        accelerator.backward(generator_loss)
        if prior is not None and prior_frozen:  # the Gumbel path's gradient too: Adam skips a parameter without one
            prior_logits.grad = None
        generator_optimizer.step()
        timings["discriminator"] += middle - started
        timings["generator"] += time.perf_counter() - middle

        global_step += 1
        progress_bar.update(1)
        if repairs is not None and global_step in args.category_split_steps:
            repairs.repair(global_step, accelerator.unwrap_model(image_generator), accelerator.unwrap_model(discriminator), dataset, batch_size,
                           lambda images, generator: consistency_copy(args, images, generator), (generator_optimizer, discriminator_optimizer))  # fmt: skip
        if global_step % args.logging_steps == 0 or global_step == max_train_steps:
            bounds = torch.cat([terms.categorical_lower_bound, terms.continuous_lower_bound]).detach()
            logs = {"loss/discriminator": discriminator_loss.item(), "loss/generator": generator_loss.item()}
            if args.consistency_weight:
                logs["consistency/mutual_information"] = -consistency.item()
            if args.consistency_size_barrier:
                logs["consistency/size_barrier"] = size_barrier.item()
            if running_shares is not None:
                logs["consistency/smallest_running_share"] = running_marginal.min().item()
            if args.overclustering_weight:
                logs["consistency/overclustering_mutual_information"] = -overclustering.item()
            if args.contrastive_weight:
                logs["consistency/contrastive"] = contrastive.item()
            if args.continuous_warmup_steps:
                logs["weight/continuous"] = weights["continuous_weight"]
            logs |= {f"lower_bound/{name}": value for name, value in zip(lower_bound_names, bounds.tolist())}
            if prior is not None:  # H(c) of the learned prior: below ln K as it leaves the uniform one
                logs |= {f"prior_entropy/{name}": value for name, value in zip(lower_bound_names, spec.categorical_entropy(prior))}
            logs |= {f"ms_per_step/{part}": 1000 * seconds / args.logging_steps for part, seconds in timings.items()}
            timings = dict.fromkeys(timings, 0.0)
            progress_bar.set_postfix({"D": f"{logs['loss/discriminator']:.3f}", "G": f"{logs['loss/generator']:.3f}"} | {
                name: f"{value:.2f}" for name, value in zip(lower_bound_names, bounds.tolist()) if name.startswith("categorical")
            })
            if accelerator.is_main_process:
                record_metrics(global_step, logs)
        if global_step % args.checkpointing_steps == 0:
            state = {"settings": settings, "elapsed_seconds": elapsed_seconds()}
            if running_shares is not None:
                state["consistency_running_shares"] = running_shares.tolist()
            save_checkpoint(accelerator, output_dir, global_step, args.checkpoints_total_limit, state)
        if accelerator.is_main_process and args.sample_steps and global_step % args.sample_steps == 0:
            write_samples(global_step)
        if accelerator.is_main_process and args.eval_steps and global_step % args.eval_steps == 0 and global_step != max_train_steps:
            evaluate_and_save(global_step)
    progress_bar.close()

    accelerator.wait_for_everyone()
    if world > 1:  # DDP keeps replicas in step; a mismatch here would mean a broken set-up, not noise
        parameters = [*image_generator.parameters(), *discriminator.parameters()]
        checksums = accelerator.gather(torch.stack([p.detach().double().sum() for p in parameters]).sum()[None])
        if not torch.equal(checksums, checksums[:1].expand_as(checksums)):
            raise RuntimeError(f"Parameters differ between processes: checksums {checksums.tolist()}.")
        accelerator.print(f"Parameters identical on all {world} processes.")
    if accelerator.is_main_process:
        write_samples(global_step)
        evaluate_and_save(global_step)
        if args.push_to_hub:
            from infogan_hub.hub import push_to_hub

            url = push_to_hub(output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo)
            accelerator.print(f"Pushed to {url}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
