"""Re-seating a categorical code on a re-clustering of the discriminator's trunk features.

Under a uniform prior, a code's categories form with even sizes: on imbalanced data a common class
takes two categories and two rare, similar classes (4 and 9) share one, and a prior learned later
follows those categories. D's trunk features still tell the classes apart: k-means with three times
as many clusters as categories finds clusters of nearly one class each. Which clusters belong together
is read without labels, from the consistency term's transforms: an image's transformed copy lands in a
cluster of the same class far more often than in another. Merging the clusters whose copies cross
between them most (agglomerative, the crossing counted against the smaller group, so a rare class's
group is not absorbed for its size) gives categories of unequal sizes. `recluster` matches them to
Q's categories by overlap, so a category keeps its index where the two agree; `refit_categories`
makes Q read them, and the learned prior starts from their shares. G then learns, through L_I, to draw
for each category what Q now reads in it.

The merge is fragile where D's features do not part the classes well: another k-means draw can merge
other clusters. `agreed_recluster` draws several re-clusters and keeps the one agreeing most with the
others (the medoid by adjusted Rand index); how well they agree says, without labels, whether to
trust it.
"""

from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from .category_split import category_positions
from .evaluation import count_matrix
from .models import InfoGANDiscriminator, InfoGANGenerator

# Defaults: clusters per category, and the principal components of the trunk features k-means reads.
SUBCLUSTERS_PER_CATEGORY = 3
FEATURE_DIMS = 64
# How crossing_merge picks the two groups to join (see there).
LINKAGES = ("size", "modularity")
# Logistic regression of Q's rows on its hidden features: Adam steps and learning rate.
REFIT_STEPS = 500
REFIT_LEARNING_RATE = 1e-2


def crossing_merge(clusters: torch.Tensor, copy_clusters: torch.Tensor, count: int, categories: int, linkage: str = "size") -> torch.Tensor:
    """Which of `categories` groups each of `count` clusters joins: starting from one group per cluster,
    the two groups joined next are, by `linkage`,

    - `"size"`: those whose images' copies cross between them most often, counted against the smaller
      group's images;
    - `"modularity"`: those whose merge raises the modularity of the crossing graph most (Newman's
      greedy agglomeration; Clauset, Newman and Moore 2004): the share of all copies (both ways, stays
      included) that cross between the two, less the share expected if copies landed at random, the
      product of the two groups' shares of them. A common class's clusters then join one another before
      two large groups whose copies cross often only because they are large; by `"size"`, a class over
      three or more clusters can stay parted while two similar classes merge. Its limit: a group costs
      its share of the copies squared, so a class of more than about half of the images is cut rather
      than kept whole (on imbalanced MNIST's splits the largest class is below a fifth).

    Until `categories` groups remain. `clusters` and `copy_clusters` are each image's cluster and its
    copy's; every cluster must hold an image. Groups are numbered by their smallest cluster."""
    if linkage not in LINKAGES:
        raise ValueError(f"linkage must be one of {LINKAGES}, got {linkage!r}.")
    if not 1 <= categories <= count:
        raise ValueError(f"categories must be in [1, {count}] (the clusters merged), got {categories}.")
    if clusters.shape != copy_clusters.shape or clusters.dim() != 1:
        raise ValueError(f"clusters and copy_clusters must be 1-D and of one shape, got {tuple(clusters.shape)} and {tuple(copy_clusters.shape)}.")
    sizes = torch.bincount(clusters, minlength=count).double()
    if sizes.shape[0] != count or (sizes == 0).any():
        raise ValueError(f"Every one of the {count} clusters must hold an image, and no more clusters; got sizes {sizes.long().tolist()}.")
    crossings = torch.from_numpy(count_matrix(clusters.cpu().numpy(), copy_clusters.cpu().numpy(), count, count)).double()
    crossings = crossings + crossings.T
    total = float(crossings.sum())  # the copies' ends, stays counted
    ends = crossings.sum(dim=1) / total  # each cluster's share of them

    def gain(first: list[int], second: list[int]) -> float:
        between = float(crossings[first][:, second].sum())
        if linkage == "size":
            return between / float(min(sizes[first].sum(), sizes[second].sum()))
        return between / total - float(ends[first].sum() * ends[second].sum())

    groups = [[cluster] for cluster in range(count)]
    while len(groups) > categories:
        gains = {(first, second): gain(groups[first], groups[second]) for first in range(len(groups)) for second in range(first + 1, len(groups))}
        first, second = max(gains, key=gains.get)
        groups[first] += groups.pop(second)
    membership = torch.empty(count, dtype=torch.long)
    for group, members in enumerate(sorted(groups, key=min)):
        membership[members] = group
    return membership


def recluster(
    trunk_features: torch.Tensor,
    copy_trunk_features: torch.Tensor,
    decisions: torch.Tensor,
    categories: int,
    subclusters: int | None = None,
    dims: int | None = None,
    seed: int = 0,
    linkage: str = "size",
) -> torch.Tensor:
    """A new category for each image: k-means (`subclusters` clusters, default
    `SUBCLUSTERS_PER_CATEGORY` per category) on the top `dims` principal components (default
    `FEATURE_DIMS`, at most the features' width and the images) of `trunk_features` (`(count, width)`), the clusters merged into `categories` by `crossing_merge` with `linkage` (each copy, from
    `copy_trunk_features`, in its nearest cluster), and the merged groups numbered as the Q categories
    (`decisions`, each image's most likely one) they overlap most."""
    subclusters = subclusters or SUBCLUSTERS_PER_CATEGORY * categories
    count, width = trunk_features.shape
    dims = dims or min(FEATURE_DIMS, width, count)
    if copy_trunk_features.shape != trunk_features.shape or decisions.shape != (count,):
        raise ValueError(f"Each image needs its copy's features and Q's decision: got {tuple(trunk_features.shape)}, {tuple(copy_trunk_features.shape)} and {tuple(decisions.shape)}.")
    if not categories <= subclusters <= count:
        raise ValueError(f"subclusters must be at least the categories ({categories}) and at most the images ({count}), got {subclusters}.")
    if not 1 <= dims <= min(count, width):
        raise ValueError(f"dims must be in [1, {min(count, width)}] (the images and the features' width), got {dims}.")
    features, copy_features = trunk_features.double().cpu().numpy(), copy_trunk_features.double().cpu().numpy()
    pca = PCA(dims, random_state=seed).fit(features)
    kmeans = KMeans(subclusters, n_init=4, random_state=seed).fit(pca.transform(features))
    clusters = torch.from_numpy(kmeans.labels_.astype(np.int64))
    copy_clusters = torch.from_numpy(kmeans.predict(pca.transform(copy_features)).astype(np.int64))
    groups = crossing_merge(clusters, copy_clusters, subclusters, categories, linkage)[clusters]
    overlap = count_matrix(groups.numpy(), decisions.cpu().numpy(), categories, categories)
    rows, columns = linear_sum_assignment(overlap, maximize=True)
    numbering = torch.empty(categories, dtype=torch.long)
    numbering[torch.from_numpy(rows)] = torch.from_numpy(columns)
    return numbering[groups]


class AgreedReclustering(NamedTuple):
    """The re-cluster agreeing most with the others drawn (each image's category), and its mean
    adjusted Rand index with them (1.0 where only one was drawn)."""

    categories: torch.Tensor
    agreement: float


def agreed_recluster(
    trunk_features: torch.Tensor,
    copy_trunk_features: torch.Tensor,
    decisions: torch.Tensor,
    categories: int,
    draws: int,
    seed: int = 0,
    linkage: str = "size",
) -> AgreedReclustering:
    """`draws` re-clusters by `recluster` (seeds `seed` to `seed + draws - 1`; the other arguments as
    there) and the medoid: the one whose mean adjusted Rand index with the others is highest."""
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}.")
    partitions = [recluster(trunk_features, copy_trunk_features, decisions, categories, seed=seed + draw, linkage=linkage) for draw in range(draws)]
    if draws == 1:
        return AgreedReclustering(partitions[0], 1.0)
    agreements = [
        float(np.mean([adjusted_rand_score(partition.numpy(), other.numpy()) for other in partitions if other is not partition]))
        for partition in partitions
    ]  # fmt: skip
    medoid = int(np.argmax(agreements))
    return AgreedReclustering(partitions[medoid], agreements[medoid])


@torch.enable_grad()
def refit_categories(discriminator: InfoGANDiscriminator, code: int, q_features: torch.Tensor, targets: torch.Tensor,
                     steps: int = REFIT_STEPS, learning_rate: float = REFIT_LEARNING_RATE) -> float:  # fmt: skip
    """Refits Q's logits of categorical code `code` (its last layer's rows for that code, in place) to
    read `targets` (`(count,)` categories) from `q_features` (`(count, q_hidden_dim)`,
    `DiscriminatorOutput.q_features`) by logistic regression, the rest of Q untouched. Returns the share
    of the images whose most likely category is then their target."""
    spec = discriminator.latent_spec
    if not 0 <= code < len(spec.categorical_codes):
        raise ValueError(f"code must be in [0, {len(spec.categorical_codes)}), got {code}.")
    size = spec.categorical_codes[code]
    if targets.shape != q_features.shape[:1] or targets.numel() == 0 or not 0 <= int(targets.min()) <= int(targets.max()) < size:
        raise ValueError(f"targets must give each of the {q_features.shape[0]} feature vectors a category in [0, {size}), got shape {tuple(targets.shape)}.")
    _, start = category_positions(spec, code)
    layer = discriminator.q_head[-1]
    weight = layer.weight[start : start + size].detach().clone().requires_grad_(True)
    bias = layer.bias[start : start + size].detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([weight, bias], lr=learning_rate)
    features, targets = q_features.detach().to(weight.dtype), targets.to(weight.device)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(features @ weight.T + bias, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        layer.weight[start : start + size] = weight
        layer.bias[start : start + size] = bias
        return float(((features @ weight.T + bias).argmax(dim=1) == targets).float().mean())


@torch.no_grad()
def set_prior_shares(image_generator: InfoGANGenerator, code: int, shares: torch.Tensor) -> None:
    """Sets the learned prior of categorical code `code` to `shares` (positive, summing to 1)."""
    spec = image_generator.latent_spec
    if spec.categorical_prior != "learned":
        raise ValueError(f"Only a learned prior can be set, this generator's is {spec.categorical_prior!r}.")
    size = spec.categorical_codes[code]
    if shares.shape != (size,) or not bool((shares > 0).all()) or abs(float(shares.sum()) - 1) > 1e-4:
        raise ValueError(f"shares must be {size} positive numbers summing to 1, got {shares.tolist()}.")
    _, start = category_positions(spec, code)
    logits = image_generator.categorical_prior_logits
    logits[start : start + size] = shares.log().to(logits)
