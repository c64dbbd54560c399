"""Splitting an oversized category in two, in place of a category that has (nearly) emptied.

A categorical code that merged two classes (4 and 9) keeps them merged: the consistency term finds a
merged category consistent, and a learned prior follows Q's shares. Bisecting k-means splits such a
cluster along its principal direction, and DeepCluster re-seeds an empty cluster from the largest;
this does both for InfoGAN: the emptiest category of a code becomes the oversized one's twin in G,
Q and the learned prior, Q reads the two apart along the direction in which the oversized
category's real images vary most, and G learns, through L_I, to draw for each what Q reads.
Two rare classes merged in one category (3 and 0 of 3% each) leave no category oversized; their
images' features then fall in two modes, which `two_means_bimodality` scores without labels.
Two categories can also cut two classes the wrong way: each holds 4s and 9s of one slant. Their
images' transformed copies (the consistency term's) then cross between them, and the direction of Q's
features that varies most relative to how far a copy moves it (`invariant_direction`) cuts their
images by class; `recut_gain` says, without labels, whether a cut along it crosses less.
A class can also end in two categories, a large one and a small satellite whose images' copies leave it
for the large one, while two other classes share a category: `satellite_split` gives the satellite's
place to the category that a cut along its own invariant direction parts most cleanly.
"""

import itertools
import math
from collections.abc import Callable, Sequence

import torch

from .latent import LatentSpec
from .models import InfoGANDiscriminator, InfoGANGenerator

# A bimodality score is read only for categories holding at least this share of the images read:
# fewer (82 of 4096) are too few to tell two modes from noise.
BIMODAL_MIN_SHARE = 0.02
# A crossing pair is re-cut only where the copies of its images cross the invariant cut less than this
# share of the rate at which they cross between the pair now.
RECUT_GAIN = 0.8
# A satellite's split takes its source among categories holding at least this share of the images read:
# fewer (205 of 4096) leave the invariant direction, fitted to their own copies, too little to generalise.
SATELLITE_SOURCE_MIN_SHARE = 0.05
# Q's two logits differ by this many standard deviations of the features' projection on the
# direction: decisive for most images, without saturating the softmax.
SPLIT_SHARPNESS = 2.0


def principal_direction(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mean of `(count, width)` features, their principal direction (unit length) and the
    standard deviation of their projection on it."""
    if features.shape[0] < 2:
        raise ValueError(f"A principal direction needs at least 2 feature vectors, got {features.shape[0]}.")
    mean = features.mean(dim=0)
    _, singular_values, right = torch.linalg.svd(features - mean, full_matrices=False)
    return mean, right[0], singular_values[0] / (features.shape[0] - 1) ** 0.5


def invariant_direction(features: torch.Tensor, copy_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mean of `(count, width)` features, the direction (unit length) along which they vary most
    relative to how far a transformed copy of each image moves them, and the standard deviation of
    their projection on it.

    Slow feature analysis: the top generalised eigenvector of Σ w = λ Δ w, with Σ the features'
    covariance and Δ the mean outer product of each image's feature change under its copy (a ridge of
    1e-3 of Δ's mean eigenvalue keeps Δ invertible). What the transforms change (slant, width) is
    left out; what they keep (which digit) remains."""
    if features.shape[0] < 2 or features.shape != copy_features.shape:
        raise ValueError(f"An invariant direction needs at least 2 feature vectors and a copy of each, got {tuple(features.shape)} and {tuple(copy_features.shape)}.")
    features, changes = features.double(), features.double() - copy_features.double()
    mean = features.mean(dim=0)
    covariance = (features - mean).T @ (features - mean) / (features.shape[0] - 1)
    change = changes.T @ changes / changes.shape[0]
    change += 1e-3 * change.trace() / change.shape[0] * torch.eye(change.shape[0], dtype=change.dtype, device=change.device)
    whitening = torch.linalg.inv(torch.linalg.cholesky(change))
    direction = whitening.T @ torch.linalg.eigh(whitening @ covariance @ whitening.T).eigenvectors[:, -1]
    direction = direction / direction.norm()
    spread = ((features - mean) @ direction).std()
    return mean.float(), direction.float(), spread.float()


def pair_crossing(decisions: torch.Tensor, copy_decisions: torch.Tensor, first: int, second: int) -> float:
    """The share of the images in categories `first` and `second` whose transformed copy lands in the other of the two."""
    pair = (decisions == first) | (decisions == second)
    crossed = pair & ((copy_decisions == first) | (copy_decisions == second)) & (copy_decisions != decisions)
    return float(crossed.sum() / pair.sum().clamp_min(1))


def recut_candidates(decisions: torch.Tensor, copy_decisions: torch.Tensor, categories: int, above: float) -> list[tuple[int, int, float]]:
    """`(first, second, crossing)` of every pair of a code's `categories` (each holding at least
    `BIMODAL_MIN_SHARE` of the images) whose copies cross between them (`pair_crossing`) above `above`."""
    large = [category for category in range(categories) if (decisions == category).float().mean() >= BIMODAL_MIN_SHARE]
    pairs = [(first, second, pair_crossing(decisions, copy_decisions, first, second)) for first, second in itertools.combinations(large, 2)]
    return [(first, second, crossing) for first, second, crossing in pairs if crossing > above]


def invariant_cut(features: torch.Tensor, copy_features: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A cut of the images through their mean along `invariant_direction`: on which side each image
    falls (a boolean tensor of shape `(count,)`), and the share of the images whose transformed copy
    falls on the other side (low where the images hold two classes the transforms keep apart)."""
    mean, direction, _ = invariant_direction(features, copy_features)
    sides, copy_sides = ((features - mean) @ direction) > 0, ((copy_features - mean) @ direction) > 0
    return sides, float((sides != copy_sides).float().mean())


def recut_gain(cut_crossing: float, crossing: float) -> float:
    """How an `invariant_cut` of a pair's images compares with the pair's `crossing` now: the cut's
    crossing over it (below 1: the copies cross the new cut less)."""
    return cut_crossing / crossing if crossing > 0 else math.inf


def leaving_rate(decisions: torch.Tensor, copy_decisions: torch.Tensor, category: int) -> float:
    """The share of the images in `category` whose transformed copy Q puts in another category (NaN for an empty one)."""
    mine = decisions == category
    return float((copy_decisions[mine] != category).float().mean()) if mine.any() else math.nan


def satellite_split(
    decisions: torch.Tensor, copy_decisions: torch.Tensor, cut_crossing: Callable[[int], float], categories: int
) -> tuple[int, int, float, float] | None:
    """`(source, target, target's leaving rate, source's invariant cut crossing)` of a split of `source`
    in place of `target`, a code's smallest category, should `target` be a satellite; None where it is
    empty or no category is large enough to be a source.

    A satellite is a smallest category whose images' copies leave it often (`leaving_rate`, read
    against a threshold by the caller): Q does not hold its images apart from a larger category of the
    same class, and the class it should hold is merged into another. Its place goes to the category (of
    at least `SATELLITE_SOURCE_MIN_SHARE` of the images) whose own `invariant_cut` its copies cross
    least: the one most clearly holding two classes the transforms keep apart. `cut_crossing(category)`
    gives that crossing (`invariant_cut` of the category's images and their copies); it is asked only
    for the categories that may be the source."""
    shares = torch.bincount(decisions, minlength=categories).float() / decisions.shape[0]
    target = int(shares.argmin())
    rate = leaving_rate(decisions, copy_decisions, target)
    if math.isnan(rate):  # an empty smallest category is the other splits' to fill
        return None
    crossings = {category: cut_crossing(category) for category in range(categories) if category != target and shares[category] >= SATELLITE_SOURCE_MIN_SHARE}
    if not crossings:
        return None
    source = min(crossings, key=crossings.get)
    return source, target, rate, crossings[source]


def two_means_bimodality(features: torch.Tensor) -> float:
    """How far `(count, width)` features fall in two modes along their principal direction: the
    share of their projection's variance that lies between the two halves of the best cut of it in
    two (1-D two-means, solved exactly over every cut of the sorted projections). 2/π ≈ 0.64 for one
    Gaussian mode, towards 1 for two modes far apart."""
    if features.shape[0] < 4:
        raise ValueError(f"A bimodality score needs at least 4 feature vectors, got {features.shape[0]}.")
    mean, direction, _ = principal_direction(features.double())
    values = ((features.double() - mean) @ direction).sort().values
    count, total = values.shape[0], values.sum()
    left_sums, left_counts = values.cumsum(0)[:-1], torch.arange(1, count, dtype=values.dtype, device=values.device)
    between = left_sums**2 / left_counts + (total - left_sums) ** 2 / (count - left_counts) - total**2 / count
    spread = ((values - total / count) ** 2).sum()
    return float(between.max() / spread) if spread > 0 else 0.0


def bimodal_candidates(shares: Sequence[float]) -> list[int]:
    """The categories a split in two modes may take its source from, given each category's share of
    the images read: those holding at least `BIMODAL_MIN_SHARE`, except the smallest (the first of
    equal smallest), whose place the split takes."""
    smallest = min(range(len(shares)), key=lambda category: shares[category])
    return [category for category, share in enumerate(shares) if category != smallest and share >= BIMODAL_MIN_SHARE]


def category_positions(spec: LatentSpec, code: int) -> tuple[int, int]:
    """Where categorical code `code`'s first category sits in G's input, and in Q's output and the
    learned prior's logits (both list the categorical codes' categories one code after another)."""
    before = sum(spec.categorical_codes[:code])
    return spec.noise_dim + before, before


@torch.no_grad()
def split_category(
    image_generator: InfoGANGenerator,
    discriminator: InfoGANDiscriminator,
    code: int,
    source: int,
    target: int,
    q_features: torch.Tensor,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    copy_q_features: torch.Tensor | None = None,
) -> None:
    """Makes category `target` of categorical code `code` the twin of category `source`.

    G draws the same for both (the one-hot input's weights copied); Q's logits for the two differ by
    the projection of its hidden features on the principal direction of `q_features` (Q's hidden
    features of real images it puts in `source`), positive for `source`; a learned prior gives each
    half of their joint probability. The optimisers' moments of `target`'s weights become `source`'s,
    so neither half takes a first step out of scale.

    Args:
        image_generator (`InfoGANGenerator`), discriminator (`InfoGANDiscriminator`): changed in place.
        code (`int`): which categorical code.
        source (`int`), target (`int`): two different categories of that code.
        q_features (`torch.Tensor` of shape `(count, q_hidden_dim)`): `DiscriminatorOutput.q_features`
            of real images whose most likely category is `source` (for a re-cut: `source` or `target`); at least 2.
        optimizers (`Sequence[torch.optim.Optimizer]`, defaults to `()`): the optimisers of the two
            models' parameters (Adam's moments or any state shaped as its parameter).
        copy_q_features (`torch.Tensor` of shape `(count, q_hidden_dim)`, *optional*): Q's hidden
            features of a transformed copy of each of those images; given, Q reads the two apart along
            `invariant_direction` instead of the principal direction (a re-cut of a crossing pair).
    """
    spec = image_generator.latent_spec
    if not 0 <= code < len(spec.categorical_codes):
        raise ValueError(f"code must be in [0, {len(spec.categorical_codes)}), got {code}.")
    size = spec.categorical_codes[code]
    if not (0 <= source < size and 0 <= target < size) or source == target:
        raise ValueError(f"source and target must be two different categories in [0, {size}), got {source} and {target}.")
    generator_column, code_start = category_positions(spec, code)
    first_layer, q_layer = image_generator.layers[0], discriminator.q_head[-1]
    # (parameter, dimension, index of source, index of target) of every weight the split touches
    twins = [(first_layer.weight, 1, generator_column + source, generator_column + target)]
    twins += [(parameter, 0, code_start + source, code_start + target) for parameter in (q_layer.weight, q_layer.bias)]
    first_layer.weight[:, generator_column + target] = first_layer.weight[:, generator_column + source]

    if copy_q_features is None:
        mean, direction, spread = principal_direction(q_features.float())
    else:
        mean, direction, spread = invariant_direction(q_features, copy_q_features)
    step = SPLIT_SHARPNESS / 2 / spread.clamp_min(1e-6) * direction
    weight, bias = q_layer.weight, q_layer.bias
    source_row, target_row = code_start + source, code_start + target
    offset = (step @ mean).to(bias.dtype)
    weight[target_row] = weight[source_row] - step.to(weight.dtype)
    weight[source_row] += step.to(weight.dtype)
    bias[target_row] = bias[source_row] + offset
    bias[source_row] -= offset

    if spec.categorical_prior == "learned":
        logits = image_generator.categorical_prior_logits
        pair = logits[[source_row, target_row]]
        logits[[source_row, target_row]] = torch.logsumexp(pair, dim=0) - torch.log(torch.tensor(2.0, dtype=logits.dtype))
        twins.append((logits, 0, source_row, target_row))

    for optimizer in optimizers:
        for parameter, dimension, source_index, target_index in twins:
            for value in optimizer.state.get(parameter, {}).values():
                if torch.is_tensor(value) and value.shape == parameter.shape:
                    value.select(dimension, target_index).copy_(value.select(dimension, source_index))
