"""What the category split's check would see in a finished run, told with the labels it never read.

    python benchmarks/split_checks.py output/imbalanced-mnist/learned_prior_consistency_floor/split-0/seed-0 ...
    python benchmarks/split_checks.py RUN ... --thresholds 0.16 0.18 0.2 --results checks.json

For each checkpoint a run kept (and its final model), Q sorts the 4096 training images that
train.py's `--category_split_share` check reads (the same seeded draw, read as the D step reads its
real batch). Per category it prints the share, the digits it holds (the data's labels, never seen by
training) and a label-free bimodality score: Q's hidden features (or D's trunk features) of the
category's images projected on their principal direction and cut in two by 1-D two-means, the share
of the projection's variance between the two halves (2/π ≈ 0.64 for one Gaussian, towards 1 for two
well-apart modes), and where the images' transformed copies (the consistency term's) cross to most.
Per pair of categories whose copies cross between them (`--category_recut_crossing`'s reading): the
rate, the re-cut's gain (category_split.recut_gain), and how well the two digits the pair holds are
parted now and by a cut along Q's transform-invariant direction.
Per category also the share of its images whose copy Q puts elsewhere, and how often the copies cross,
and how well it parts the category's two digits, a cut along its own invariant direction
(`--category_satellite_leaving`'s reading). Then, per share, bimodality score, leaving rate and crossing, the first check that would fire and whether the category it
would split holds two digits. A run's checkpoints after a split has fired show the split's work.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "training"))
import train  # noqa: E402  training/train.py: the consistency term's copies
from category_repairs import read_categories  # noqa: E402  training/category_repairs.py: the checks' reading of D
from infogan_hub.category_split import (  # noqa: E402
    RECUT_GAIN,
    bimodal_candidates,
    invariant_cut,
    leaving_rate,
    recut_candidates,
    recut_gain,
    satellite_split,
    two_means_bimodality,
)
from infogan_hub.data import ImageDataset, load_dataset  # noqa: E402
from infogan_hub.evaluation import write_json  # noqa: E402
from infogan_hub.models import InfoGANDiscriminator  # noqa: E402

# A category holds two digits when its second digit is at least this share of its images.
MERGE_SHARE = 0.2
DISCRIMINATOR_WEIGHTS = "model_1.safetensors"  # accelerate's save_state: the second model prepared
# Pairs whose copies cross between them more often than this are read (the re-cut's candidates and more).
PAIR_CROSSING_READ = 0.05


def bimodality(features: torch.Tensor) -> float:
    """category_split.two_means_bimodality, NaN for a category of fewer than 4 images."""
    return two_means_bimodality(features) if features.shape[0] >= 4 else float("nan")


def two_digit_accuracy(sides: torch.Tensor, labels: torch.Tensor) -> float:
    """How well a cut of a pair's images in two (`sides`, boolean) parts the two digits they hold most:
    the share of the images on the side of their digit, under the better of the two matchings."""
    first, second = torch.bincount(labels, minlength=10).argsort(descending=True)[:2]
    matched = ((sides & (labels == first)) | (~sides & (labels == second))).double().mean()
    swapped = ((sides & (labels == second)) | (~sides & (labels == first))).double().mean()
    return float(max(matched, swapped))


def crossing_pairs(decisions: torch.Tensor, copy_decisions: torch.Tensor, q_features: torch.Tensor, copy_q_features: torch.Tensor, labels: torch.Tensor, size: int) -> list[dict]:
    """Every pair of categories category_split.recut_candidates reads above PAIR_CROSSING_READ: the rate, the re-cut's gain, and the two digits' parting now and re-cut."""
    pairs = []
    for first, second, crossing in recut_candidates(decisions, copy_decisions, size, PAIR_CROSSING_READ):
        pair = (decisions == first) | (decisions == second)
        sides, cut_crossing = invariant_cut(q_features[pair], copy_q_features[pair])
        digits = torch.bincount(labels[pair], minlength=10).argsort(descending=True)[:2].tolist()
        pairs.append({"categories": [first, second], "crossing": crossing, "digits": digits, "gain": recut_gain(cut_crossing, crossing),
                      "parted_now": two_digit_accuracy(decisions[pair] == first, labels[pair]), "parted_recut": two_digit_accuracy(sides, labels[pair])})  # fmt: skip
    return sorted(pairs, key=lambda pair: pair["gain"])


def own_invariant_cut(q_features: torch.Tensor, copy_q_features: torch.Tensor, labels: torch.Tensor) -> dict:
    """A category's own cut along Q's transform-invariant direction (category_split.invariant_cut: the
    share of its images whose copy falls on the other side) and how well it parts the category's two
    digits; NaN for a category of fewer than 4 images."""
    if q_features.shape[0] < 4:
        return {"invariant_cut_crossing": float("nan"), "parted_invariant": float("nan")}
    sides, cut_crossing = invariant_cut(q_features, copy_q_features)
    return {"invariant_cut_crossing": cut_crossing, "parted_invariant": two_digit_accuracy(sides, labels)}


def states(run: Path, settings: dict) -> list[tuple[int, Path | None]]:
    """(step, discriminator weights) of every checkpoint the run kept before its last step, and its final model (None: its folder)."""
    kept = sorted((int(path.name.split("-")[1]), path / DISCRIMINATOR_WEIGHTS) for path in run.glob("checkpoint-*") if (path / DISCRIMINATOR_WEIGHTS).exists())
    return [(step, weights) for step, weights in kept if step < settings["max_train_steps"]] + [(settings["max_train_steps"], None)]


@torch.no_grad()
def check(run: Path, settings: dict, dataset: ImageDataset, step: int, weights: Path | None) -> dict:
    """What Q and D read, at `step`, on the images train.py's check reads from `dataset` (the run's training set)."""
    discriminator = InfoGANDiscriminator.from_pretrained(run / "discriminator")
    if weights is not None:
        discriminator.load_state_dict(load_file(weights))
    discriminator.train()  # read as the D step reads its real batch (batch statistics), as train.py's check does
    copy = lambda batch, generator: train.consistency_copy(argparse.Namespace(**settings), batch, generator)  # noqa: E731
    images, (reading, *_) = read_categories(discriminator, dataset, step, settings["seed"], settings["train_batch_size"], copy, trunk=True)
    spec = discriminator.latent_spec
    decisions, copy_decisions = reading.decisions, reading.copy_decisions
    q_features, trunk_features, copy_q_features = reading.features, reading.trunk_features, reading.copy_features
    labels = dataset.labels[images]
    categories = []
    for category in range(spec.categorical_codes[0]):
        mine = decisions == category
        digits = torch.bincount(labels[mine], minlength=10).double()
        order = digits.argsort(descending=True)
        held = [(int(digit), float(digits[digit] / max(1, int(mine.sum())))) for digit in order[:2] if digits[digit] > 0]
        crossings = torch.bincount(copy_decisions[mine], minlength=spec.categorical_codes[0]).double() / max(1, int(mine.sum()))
        crossings[category] = 0
        categories.append({"category": category, "share": float(mine.double().mean()), "digits": held,
                           "merge": len(held) == 2 and held[1][1] >= MERGE_SHARE,
                           "crosses_to": int(crossings.argmax()), "crossing": float(crossings.max()),
                           "leaving": leaving_rate(decisions, copy_decisions, category),
                           "q_bimodality": bimodality(q_features[mine]), "trunk_bimodality": bimodality(trunk_features[mine]),
                           **own_invariant_cut(q_features[mine], copy_q_features[mine], labels[mine])})  # fmt: skip
    pairs = crossing_pairs(decisions, copy_decisions, q_features, copy_q_features, labels, spec.categorical_codes[0])
    # the satellite check reads each category's own cut, solved above once
    satellite = satellite_split(decisions, copy_decisions, lambda category: categories[category]["invariant_cut_crossing"], spec.categorical_codes[0])
    if satellite is not None:
        source, target, leaving, cut_crossing = satellite
        satellite = {"source": source, "target": target, "leaving": leaving, "source_cut_crossing": cut_crossing}
    return {"step": step, "categories": categories, "crossing_pairs": pairs, "satellite": satellite}


def first_fire(checks: list[dict], threshold: float) -> dict | None:
    """The first check whose largest category holds more than `threshold` of the images."""
    for state in checks:
        largest = max(state["categories"], key=lambda category: category["share"])
        if largest["share"] > threshold:
            return {"step": state["step"], "share": largest["share"], "digits": largest["digits"], "merge": largest["merge"]}
    return None


def first_bimodal_fire(checks: list[dict], threshold: float) -> dict | None:
    """The first check with a category (one of category_split.bimodal_candidates) scoring above
    `threshold` in D's trunk features, as --category_split_bimodality reads them."""
    for state in checks:
        categories = state["categories"]  # in category order
        best = max((categories[category] for category in bimodal_candidates([category["share"] for category in categories])), key=lambda category: category["trunk_bimodality"])
        if best["trunk_bimodality"] > threshold:
            return {"step": state["step"], "share": best["share"], "digits": best["digits"], "merge": best["merge"], "bimodality": best["trunk_bimodality"]}
    return None


def first_satellite_fire(checks: list[dict], leaving: float) -> dict | None:
    """The first check whose smallest category's copies leave it above `leaving`, as
    --category_satellite_leaving reads them, with the category that would take its place."""
    for state in checks:
        if state["satellite"] is not None and state["satellite"]["leaving"] > leaving:
            source = state["categories"][state["satellite"]["source"]]
            return {"step": state["step"], **state["satellite"], "share": source["share"], "digits": source["digits"], "merge": source["merge"], "parted": source["parted_invariant"]}
    return None


def first_recut_fire(checks: list[dict], crossing: float, gain: float) -> dict | None:
    """The first check with a pair crossing above `crossing` whose re-cut gain is below `gain`, as
    --category_recut_crossing and --category_recut_gain read them (the lowest gain of that check)."""
    for state in checks:
        fired = [pair for pair in state["crossing_pairs"] if pair["crossing"] > crossing and pair["gain"] < gain]
        if fired:
            return {"step": state["step"], **fired[0]}
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="finished run folders (training_config.json, discriminator/, checkpoint-*/)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.16, 0.18, 0.2], help="shares, as --category_split_share")
    parser.add_argument("--bimodalities", type=float, nargs="+", default=[0.8, 0.85], help="scores, as --category_split_bimodality")
    parser.add_argument("--satellite_leavings", type=float, nargs="+", default=[0.35], help="rates, as --category_satellite_leaving")
    parser.add_argument("--recut_crossings", type=float, nargs="+", default=[0.1], help="rates, as --category_recut_crossing")
    parser.add_argument("--recut_gain", type=float, default=RECUT_GAIN, help="as --category_recut_gain")
    parser.add_argument("--results", type=Path, default=None, help="a JSON file to write every check to")
    args = parser.parse_args(argv)
    report = {}
    for run in args.runs:
        settings = json.loads((run / "training_config.json").read_text())
        dataset = load_dataset(settings["dataset"], "train")  # once per run, read at every checkpoint
        checks = [check(run, settings, dataset, step, weights) for step, weights in states(run, settings)]
        report[str(run)] = {"checks": checks, "fires": {f"share {threshold}": first_fire(checks[:-1], threshold) for threshold in args.thresholds}
                            | {f"bimodality {threshold}": first_bimodal_fire(checks[:-1], threshold) for threshold in args.bimodalities}
                            | {f"satellite {leaving}": first_satellite_fire(checks[:-1], leaving) for leaving in args.satellite_leavings}
                            | {f"recut {crossing}": first_recut_fire(checks[:-1], crossing, args.recut_gain) for crossing in args.recut_crossings}}  # fmt: skip
        print(f"\n{run}")
        for state in checks:
            print(f"  step {state['step']}:")
            for category in sorted(state["categories"], key=lambda category: -category["share"]):
                digits = " + ".join(f"{digit} {share:.0%}" for digit, share in category["digits"])
                print(f"    {category['category']}: {category['share']:6.1%}  {digits:16s} copies to {category['crosses_to']} {category['crossing']:4.0%} (out {category['leaving']:4.0%})  invariant cut {category['invariant_cut_crossing']:4.0%} parts {category['parted_invariant']:4.0%}  Q {category['q_bimodality']:.2f}  trunk {category['trunk_bimodality']:.2f}{'  MERGE' if category['merge'] else ''}")
            for pair in state["crossing_pairs"]:
                first, second = pair["categories"]
                print(f"    pair {first}-{second}: copies cross {pair['crossing']:4.0%}, re-cut gain {pair['gain']:.2f}; digits {pair['digits'][0]} and {pair['digits'][1]} parted {pair['parted_now']:.0%} now, {pair['parted_recut']:.0%} re-cut")
        for threshold, fire in report[str(run)]["fires"].items():
            if fire is None:
                print(f"  {threshold}: no check fires")
            elif threshold.startswith("satellite"):
                print(f"  {threshold}: fires at step {fire['step']}: {fire['target']}'s copies leave it at {fire['leaving']:.0%}, {fire['source']} ({fire['share']:.1%}, {'two digits' if fire['merge'] else 'one digit'}) splits, parted {fire['parted']:.0%}")
            elif threshold.startswith("recut"):
                print(f"  {threshold}: fires at step {fire['step']} on pair {fire['categories']} (digits {fire['digits']}: parted {fire['parted_now']:.0%} now, {fire['parted_recut']:.0%} re-cut)")
            else:
                print(f"  {threshold}: fires at step {fire['step']} on {fire['share']:.1%} ({'two digits' if fire['merge'] else 'one digit'})")
    if args.results:
        write_json(args.results, report)
    return report


if __name__ == "__main__":
    main()
