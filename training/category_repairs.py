"""train.py's category checks (`--category_split_share`, `--category_split_bimodality`,
`--category_satellite_leaving`, `--category_recut_crossing`): at each `--category_split_steps` step,
Q reads a fixed, seeded draw of the training images, and for each categorical code the first check
that finds a repair makes it (infogan_hub.category_split holds the geometry; this, when and why).

`read_categories` is the one reading of D the checks make; benchmarks/split_checks.py reads a kept
checkpoint with it too, so what it reports is what the run's check saw.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import NamedTuple

import torch

from infogan_hub import categorical_shares
from infogan_hub.category_split import bimodal_candidates, invariant_cut, recut_candidates, recut_gain, satellite_split, split_category, two_means_bimodality
from infogan_hub.data import ImageDataset
from infogan_hub.models import InfoGANDiscriminator, InfoGANGenerator
from infogan_hub.recluster import agreed_recluster, refit_categories, set_prior_shares

# The checks read Q's decisions on this many training images, the same on every process.
CATEGORY_SPLIT_IMAGES = 4096
# --category_recluster_step reads this many training images (at most) and a transformed copy of each.
RECLUSTER_IMAGES = 12000


class CategoryReading(NamedTuple):
    """What a category check reads of one categorical code at a check step: Q's most likely category
    of each of the images, the share of them in each category, Q's hidden features and D's trunk
    features of those images, and Q's decisions and hidden features of their transformed copies
    (None where no check on reads them)."""

    step: int
    name: str
    decisions: torch.Tensor
    shares: torch.Tensor
    features: torch.Tensor
    trunk_features: torch.Tensor | None
    copy_decisions: torch.Tensor | None
    copy_features: torch.Tensor | None


class Repair(NamedTuple):
    """A check's change to a categorical code: `target` becomes the twin of `source`, Q reading them
    apart along the features of the images in `images` (a mask over the reading's images), along
    their transform-invariant direction if `along_copies`; `why` and `change` go to the log."""

    source: int
    target: int
    images: torch.Tensor
    along_copies: bool
    why: str
    change: str


@contextlib.contextmanager
def buffers_restored(module: torch.nn.Module):
    """Forwards inside leave `module`'s buffers (BatchNorm's running statistics, spectral norm's
    vectors) as they were."""
    saved = [buffer.clone() for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), saved):
                buffer.copy_(value)


def repairs_categories(args: argparse.Namespace) -> bool:
    """Whether any of the category checks at --category_split_steps is on."""
    return bool(args.category_split_share or args.category_split_bimodality or args.category_satellite_leaving or args.category_recut_crossing)


@torch.no_grad()
def read_categories(
    discriminator: InfoGANDiscriminator,
    dataset: ImageDataset,
    step: int,
    seed: int,
    batch_size: int,
    copy: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    trunk: bool = False,
) -> tuple[torch.Tensor, list[CategoryReading]]:
    """The images the checks read (CATEGORY_SPLIT_IMAGES of `dataset`, drawn by `seed`) and what
    `discriminator` reads of them, one CategoryReading per categorical code, in batches of
    `batch_size` as the D step reads its real batch (in train mode, batch statistics), leaving its
    running statistics as they were. With `copy` (the consistency term's transform, its generator
    seeded by `seed`) the copies are read too; with `trunk`, D's trunk features."""
    device = next(discriminator.parameters()).device
    images = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:CATEGORY_SPLIT_IMAGES].to(device)
    transform = torch.Generator().manual_seed(seed)
    outputs, trunk_outputs, copy_outputs = [], [], []
    with buffers_restored(discriminator):
        for chunk in images.split(batch_size):
            batch = dataset.batch(chunk)
            outputs.append(discriminator(batch))
            if trunk:
                trunk_outputs.append(discriminator.trunk(batch))
            if copy is not None:
                copy_outputs.append(discriminator(copy(batch, transform)))
    spec = discriminator.latent_spec
    features = torch.cat([output.q_features for output in outputs])
    trunk_features = torch.cat(trunk_outputs) if trunk_outputs else None
    copy_features = torch.cat([output.q_features for output in copy_outputs]) if copy_outputs else None
    categorical_logits = spec.split_q_output(torch.cat([output.q_output for output in outputs])).categorical_logits
    copy_logits = spec.split_q_output(torch.cat([output.q_output for output in copy_outputs])).categorical_logits if copy_outputs else None
    readings = [
        CategoryReading(step, name, logits.argmax(dim=1), categorical_shares([logits], hard=True), features, trunk_features,
                        copy_logits[code].argmax(dim=1) if copy_logits is not None else None, copy_features)  # fmt: skip
        for code, (name, logits) in enumerate(zip(spec.code_names, categorical_logits))
    ]
    return images, readings


class CategoryRepairs:
    """The checks `args` turns on, in the order they are tried at each check step (the share or
    bimodality split, the satellite, the re-cut); the first to find a repair for a code makes it.
    Each check's reading is passed to `record(step, metrics)` whether it fires or not (None: not
    recorded, as on every process but the main one), and each repair's line to `log`."""

    def __init__(self, args: argparse.Namespace, log: Callable[[str], None], record: Callable[[int, dict], None] | None) -> None:
        self.args, self.log, self.record = args, log, record
        self.checks = [
            self.split_in_place_of_smallest,
            *([self.satellite_in_place_of_smallest] if args.category_satellite_leaving else []),
            *([self.pair_to_recut] if args.category_recut_crossing else []),
        ]

    def recorded(self, step: int, metrics: dict) -> None:
        if self.record is not None:
            self.record(step, metrics)

    def repair(self, step: int, image_generator: InfoGANGenerator, discriminator: InfoGANDiscriminator, dataset: ImageDataset,
               batch_size: int, copy: Callable[[torch.Tensor, torch.Generator], torch.Tensor], optimizers: tuple[torch.optim.Optimizer, ...]) -> None:  # fmt: skip
        """Read the check images and make each code's first repair found: split_category makes its
        target the twin of its source, Q reading the two apart along the principal direction of the
        chosen images' features, or along their transform-invariant direction when the repair reads
        copies. Every process reads the same images and copies with the same weights, so all make
        the same change. The models are the unwrapped ones; `optimizers` (G's, D's) have their moments moved with the weights."""
        args = self.args
        reads_copies = bool(args.category_satellite_leaving or args.category_recut_crossing)
        _, readings = read_categories(discriminator, dataset, step, args.seed, batch_size, copy if reads_copies else None, trunk=bool(args.category_split_bimodality))
        for code, reading in enumerate(readings):
            if (repair := next(filter(None, (check(reading) for check in self.checks)), None)) is None:
                continue
            shares = reading.shares
            split_category(image_generator, discriminator, code, repair.source, repair.target, reading.features[repair.images], optimizers=optimizers,
                           copy_q_features=reading.copy_features[repair.images] if repair.along_copies else None)  # fmt: skip
            self.log(f"step {step}: {reading.name} = {repair.source} {repair.why}: {repair.change}.")
            self.recorded(step, {f"category_split/{reading.name}/source": repair.source, f"category_split/{reading.name}/target": repair.target,
                                 f"category_split/{reading.name}/source_share": shares[repair.source].item(), f"category_split/{reading.name}/target_share": shares[repair.target].item()})  # fmt: skip

    def split_in_place_of_smallest(self, reading: CategoryReading) -> Repair | None:
        """The largest category, if above --category_split_share, or else the most bimodal in D's trunk
        features, if above --category_split_bimodality, split in two in place of the smallest."""
        args, shares = self.args, reading.shares
        source, target = int(shares.argmax()), int(shares.argmin())
        if args.category_split_share and shares[source] > args.category_split_share:
            return Repair(source, target, reading.decisions == source, False, f"held {shares[source]:.1%} of the images", f"split into {source} and {target} (which held {shares[target]:.1%})")
        if not args.category_split_bimodality:
            return None
        scores = {category: two_means_bimodality(reading.trunk_features[reading.decisions == category])
                  for category in bimodal_candidates(shares.tolist()) if (reading.decisions == category).sum() >= 4}  # fmt: skip
        source = max(scores, key=scores.get)
        # the most bimodal category at every check, split or not
        self.recorded(reading.step, {f"category_split/{reading.name}/bimodality": scores[source], f"category_split/{reading.name}/bimodal_category": source})
        if scores[source] <= args.category_split_bimodality:
            return None
        return Repair(source, target, reading.decisions == source, False, f"held {shares[source]:.1%} of the images in two modes (bimodality {scores[source]:.2f})",
                      f"split into {source} and {target} (which held {shares[target]:.1%})")  # fmt: skip

    def satellite_in_place_of_smallest(self, reading: CategoryReading) -> Repair | None:
        """The category its own transform-invariant cut parts most cleanly, split in place of the
        smallest, if the smallest's copies leave it above --category_satellite_leaving
        (category_split.satellite_split)."""
        decisions, features, copy_features = reading.decisions, reading.features, reading.copy_features
        own_cut_crossing = lambda category: invariant_cut(features[decisions == category], copy_features[decisions == category])[1]  # noqa: E731
        satellite = satellite_split(decisions, reading.copy_decisions, own_cut_crossing, len(reading.shares))
        if satellite is None:
            return None
        source, target, leaving, cut_crossing = satellite
        # the smallest category's leaving rate at every check, split or not
        self.recorded(reading.step, {f"category_split/{reading.name}/satellite_leaving": leaving, f"category_split/{reading.name}/satellite_source_cut_crossing": cut_crossing})
        if leaving <= self.args.category_satellite_leaving:
            return None
        return Repair(source, target, reading.decisions == source, True,
                      f"is cut most cleanly along its own invariant direction (its copies cross that cut at {cut_crossing:.0%}), and {target}'s images' copies leave it at {leaving:.0%}",
                      f"split along Q's transform-invariant direction into {source} and {target} (which held {reading.shares[target]:.1%})")  # fmt: skip

    def pair_to_recut(self, reading: CategoryReading) -> Repair | None:
        """The pair of categories (each of at least BIMODAL_MIN_SHARE) whose copies cross between them
        above --category_recut_crossing and would cross an invariant cut of their images least,
        relative to now (category_split.recut_gain), if below --category_recut_gain, re-cut along it."""
        decisions, shares = reading.decisions, reading.shares
        gains = {}
        for first, second, crossing in recut_candidates(decisions, reading.copy_decisions, len(shares), self.args.category_recut_crossing):
            pair = (decisions == first) | (decisions == second)
            gains[first, second] = recut_gain(invariant_cut(reading.features[pair], reading.copy_features[pair])[1], crossing), crossing
        if not gains:
            return None
        pair = min(gains, key=gains.get)
        gain, crossing = gains[pair]
        # the most promising re-cut at every check, made or not
        self.recorded(reading.step, {f"category_split/{reading.name}/recut_crossing": crossing, f"category_split/{reading.name}/recut_gain": gain})
        if gain >= self.args.category_recut_gain:
            return None
        source, target = sorted(pair, key=lambda category: -shares[category].item())
        return Repair(source, target, (decisions == source) | (decisions == target), True,
                      f"and {target}, whose copies cross between them at {crossing:.0%}, would cross an invariant cut {gain:.2f} times as often",
                      f"re-cut along Q's transform-invariant direction (they held {shares[source]:.1%} and {shares[target]:.1%})")  # fmt: skip


@torch.no_grad()
def recluster_categories(
    step: int,
    image_generator: InfoGANGenerator,
    discriminator: InfoGANDiscriminator,
    dataset: ImageDataset,
    batch_size: int,
    copy: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    seed: int,
    log: Callable[[str], None],
    draws: int = 1,
    min_agreement: float = 0.0,
    linkage: str = "size",
) -> dict:
    """--category_recluster_step: each categorical code re-seated on `infogan_hub.recluster.agreed_recluster`
    (`draws` re-clusters, the medoid kept; clusters merged by `linkage`) of D's trunk features of RECLUSTER_IMAGES training images
    and their transformed copies (drawn by `seed`; D read in eval mode, its running statistics), Q's
    logits for it refitted to the new categories (`refit_categories`, on the images' and copies' Q
    features) and the learned prior set to their shares. A code whose re-clusters agree less than
    `min_agreement` (mean adjusted Rand index) keeps Q's categories and its prior. The models are the
    unwrapped ones, changed in place. Every process reads the same images with the same weights, but
    BatchNorm's running statistics differ between processes, so train.py gives every process the main
    process's result. Returns the metrics to record: per code, the re-clusters' agreement, whether
    they were applied, the share of the images whose category is kept and the share Q reads as
    re-clustered."""
    images = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:RECLUSTER_IMAGES]
    transform = torch.Generator().manual_seed(seed)
    was_training = discriminator.training
    discriminator.eval()
    trunks, copy_trunks = [], []
    for chunk in images.split(batch_size):
        batch = dataset.batch(chunk.to(next(discriminator.parameters()).device))
        trunks.append(discriminator.trunk(batch))
        copy_trunks.append(discriminator.trunk(copy(batch, transform)))
    trunk, copy_trunk = torch.cat(trunks), torch.cat(copy_trunks)
    q_features, copy_q_features = discriminator.q_head[:-1](trunk), discriminator.q_head[:-1](copy_trunk)
    spec = discriminator.latent_spec
    logits = spec.split_q_output(discriminator.q_head[-1](q_features)).categorical_logits
    discriminator.train(was_training)
    metrics = {}
    for code, (name, code_logits) in enumerate(zip(spec.code_names, logits)):
        decisions = code_logits.argmax(dim=1).cpu()
        categories, agreement = agreed_recluster(trunk, copy_trunk, decisions, spec.categorical_codes[code], draws, seed=seed, linkage=linkage)
        if agreement < min_agreement:
            log(f"step {step}: {name} keeps Q's categories: its {draws} re-clusters ({linkage} linkage) agree at {agreement:.2f} (adjusted Rand index), below {min_agreement:.2f}.")
            metrics |= {f"category_recluster/{name}/agreement": agreement, f"category_recluster/{name}/applied": 0.0}
            continue
        read = refit_categories(discriminator, code, torch.cat([q_features, copy_q_features]), torch.cat([categories, categories]))
        shares = torch.bincount(categories, minlength=spec.categorical_codes[code]).float() / categories.shape[0]
        set_prior_shares(image_generator, code, shares)
        kept = float((categories == decisions).float().mean())
        log(f"step {step}: {name} re-clustered on D's trunk features ({draws} re-cluster{'s' if draws > 1 else ''}, {linkage} linkage, agreeing at {agreement:.2f}): {kept:.1%} of the images keep their category, Q reads "
            f"{read:.1%} of them and their copies as re-clustered; the prior set to their shares {[round(share, 3) for share in sorted(shares.tolist(), reverse=True)]}.")  # fmt: skip
        metrics |= {f"category_recluster/{name}/agreement": agreement, f"category_recluster/{name}/applied": 1.0,
                    f"category_recluster/{name}/kept": kept, f"category_recluster/{name}/read": read}  # fmt: skip
    return metrics
