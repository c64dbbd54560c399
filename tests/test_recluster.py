"""recluster: a code's categories re-seated on clusters of D's trunk features merged by how transformed copies cross."""

import pytest
import torch

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator
from infogan_hub.recluster import agreed_recluster, crossing_merge, recluster, refit_categories, set_prior_shares

from .conftest import SMALL_ARCHITECTURE


def learned_prior_models(prior="learned"):
    torch.manual_seed(0)
    latent = dict(categorical_codes=(10, 4), categorical_prior=prior)
    return InfoGANGenerator(**SMALL_ARCHITECTURE, **latent).eval(), InfoGANDiscriminator(**SMALL_ARCHITECTURE, **latent, q_hidden_dim=16).eval()


def crossings(pairs: dict[tuple[int, int], int], sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's cluster and its copy's: `pairs[a, b]` images of cluster a have a copy in b, the rest stay."""
    clusters, copies = [], []
    for cluster, size in enumerate(sizes):
        moved = [(b, n) for (a, b), n in pairs.items() if a == cluster]
        clusters += [cluster] * size
        copies += [b for b, n in moved for _ in range(n)] + [cluster] * (size - sum(n for _, n in moved))
    return torch.tensor(clusters), torch.tensor(copies)


def test_clusters_whose_copies_cross_most_merge_first_counted_against_the_smaller_group():
    # clusters 0 + 1 and 2 + 3 are one class each (copies cross often); 4 is a rare class whose copies
    # reach 3 at 10% of its images: more than 0 -> 2 in count (5 against 2), but far less in rate
    sizes = [400, 400, 300, 300, 50]
    clusters, copies = crossings({(0, 1): 120, (1, 0): 100, (2, 3): 90, (3, 2): 80, (4, 3): 5, (0, 2): 2}, sizes)
    assert crossing_merge(clusters, copies, 5, 3).tolist() == [0, 0, 1, 1, 2]
    assert crossing_merge(clusters, copies, 5, 2).tolist() == [0, 0, 1, 1, 1]
    assert crossing_merge(clusters, copies, 5, 5).tolist() == [0, 1, 2, 3, 4]


def test_modularity_joins_a_class_over_three_clusters_before_two_large_classes_that_cross_often():
    # class A over clusters 0-2 (200 images each; a quarter of a pair's images cross between them), two large
    # similar classes B and C (3, 4: 600 each, 15% of their copies in the other), a rare class D (5)
    sizes = [200, 200, 200, 600, 600, 200]
    clusters, copies = crossings({(0, 1): 25, (1, 0): 25, (1, 2): 25, (2, 1): 25, (0, 2): 25, (2, 0): 25, (3, 4): 90, (4, 3): 90}, sizes)
    # counted against the smaller group B and C cross at 0.30, A's clusters at 0.25: B and C merge, A stays parted
    assert crossing_merge(clusters, copies, 6, 4).tolist() == [0, 0, 1, 2, 2, 3]
    # B and C are 60% of the copies' ends: 4.5% crossing between them is less than the 9% expected at random
    assert crossing_merge(clusters, copies, 6, 4, linkage="modularity").tolist() == [0, 0, 0, 1, 2, 3]


def test_crossing_merge_refuses_bad_input_with_what_is_allowed():
    clusters, copies = crossings({}, [5, 5, 5])
    with pytest.raises(ValueError, match=r"categories must be in \[1, 3\] \(the clusters merged\), got 4"):
        crossing_merge(clusters, copies, 3, 4)
    with pytest.raises(ValueError, match="Every one of the 4 clusters must hold an image"):
        crossing_merge(clusters, copies, 4, 2)
    with pytest.raises(ValueError, match="1-D and of one shape"):
        crossing_merge(clusters, copies[:-1], 3, 2)
    with pytest.raises(ValueError, match=r"linkage must be one of \('size', 'modularity'\), got 'average'"):
        crossing_merge(clusters, copies, 3, 2, linkage="average")


def blobs(seed: int = 0):
    """Three classes of 600, 300 and 60 images, each in three modes of a 16-d space; a copy either
    jitters its image or moves it to another image of its class (a transform across its modes)."""
    generator = torch.Generator().manual_seed(seed)
    sizes, labels, features = [600, 300, 60], [], []
    centres = 12 * torch.randn(3, 3, 16, generator=generator)
    for label, size in enumerate(sizes):
        mode = torch.randint(0, 3, (size,), generator=generator)
        features.append(centres[label, mode] + torch.randn(size, 16, generator=generator))
        labels += [label] * size
    features, labels = torch.cat(features), torch.tensor(labels)
    across = torch.rand(len(labels), generator=generator) < 0.4
    partner = torch.stack([torch.nonzero(labels == label).flatten()[torch.randint(0, sizes[label], (1,), generator=generator)] for label in labels.tolist()]).flatten()
    copies = torch.where(across[:, None], features[partner], features) + 0.3 * torch.randn(features.shape, generator=generator)
    return features, copies, labels


def test_a_split_class_and_two_merged_ones_are_re_seated_as_one_category_each_numbered_as_q_s():
    features, copies, labels = blobs()
    # Q's even-sized reading: class 0 over categories 0 (two thirds) and 1, classes 1 and 2 sharing category 2
    decisions = torch.where(labels == 0, (torch.arange(len(labels)) % 3 == 0).long(), torch.full_like(labels, 2))
    categories = recluster(features, copies, decisions, 3, seed=0)
    # one category per class, numbered by overlap: class 0 keeps 0, class 1 keeps 2 (all of it, against
    # class 2's 60 images), class 2 takes the category left, 1
    assert torch.equal(categories, torch.tensor([0, 2, 1])[labels])
    # modularity's limit: a group costs its share of the copies squared, so a class of 62% of the images is
    # cut in two and the rare class (6%) joins a part of it
    by_modularity = recluster(features, copies, decisions, 3, seed=0, linkage="modularity")
    assert [torch.bincount(by_modularity[labels == label], minlength=3).count_nonzero().item() for label in range(3)] == [2, 1, 1]
    assert set(by_modularity[labels == 2].tolist()) < set(by_modularity[labels == 0].tolist())
    assert torch.equal(agreed_recluster(features, copies, decisions, 3, draws=1, seed=0, linkage="modularity").categories, by_modularity)
    # where Q already reads the classes, the categories are Q's own
    assert torch.equal(recluster(features, copies, torch.tensor([1, 0, 2])[labels], 3, seed=0), torch.tensor([1, 0, 2])[labels])


def test_recluster_refuses_bad_shapes_and_sizes_with_what_is_allowed():
    features, copies, labels = blobs()
    with pytest.raises(ValueError, match="Each image needs its copy's features and Q's decision"):
        recluster(features, copies[:-1], labels, 3)
    with pytest.raises(ValueError, match=r"subclusters must be at least the categories \(3\) and at most the images \(960\), got 2"):
        recluster(features, copies, labels, 3, subclusters=2)
    with pytest.raises(ValueError, match=r"dims must be in \[1, 16\]"):
        recluster(features, copies, labels, 3, dims=17)


def test_agreed_recluster_keeps_the_medoid_and_its_agreement_says_whether_the_features_hold_classes():
    features, copies, labels = blobs()
    decisions = torch.where(labels == 0, (torch.arange(len(labels)) % 3 == 0).long(), torch.full_like(labels, 2))
    agreed = agreed_recluster(features, copies, decisions, 3, draws=4, seed=0)
    assert torch.equal(agreed.categories, torch.tensor([0, 2, 1])[labels]) and agreed.agreement > 0.95
    # one draw is recluster itself, agreeing with itself
    single = agreed_recluster(features, copies, decisions, 3, draws=1, seed=2)
    assert torch.equal(single.categories, recluster(features, copies, decisions, 3, seed=2)) and single.agreement == 1.0
    # features without classes (copies jitter their image): which clusters merge depends on the draw
    noise = torch.randn(features.shape, generator=torch.Generator().manual_seed(3))
    jittered = noise + 0.3 * torch.randn(features.shape, generator=torch.Generator().manual_seed(4))
    assert agreed_recluster(noise, jittered, decisions, 3, draws=4, seed=0).agreement < 0.5
    with pytest.raises(ValueError, match="draws must be at least 1, got 0"):
        agreed_recluster(features, copies, decisions, 3, draws=0)


def test_refit_makes_q_read_the_targets_and_leaves_every_other_output_as_it_was():
    _, discriminator = learned_prior_models()
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(400, 16, generator=generator)
    targets = (features[:, :4] @ torch.randn(4, 4, generator=generator)).argmax(dim=1)  # a linear rule over code 1's four categories
    layer = discriminator.q_head[-1]
    before_weight, before_bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    read = refit_categories(discriminator, 1, features, targets)
    assert read >= 0.95
    logits = layer(features)[:, 10:14]
    assert (logits.argmax(dim=1) == targets).float().mean() == pytest.approx(read)
    rows = torch.ones(layer.weight.shape[0], dtype=torch.bool)
    rows[10:14] = False
    assert torch.equal(layer.weight[rows], before_weight[rows]) and torch.equal(layer.bias[rows], before_bias[rows])
    assert not layer.weight.requires_grad or layer.weight.grad is None
    with pytest.raises(ValueError, match=r"targets must give each of the 400 feature vectors a category in \[0, 4\)"):
        refit_categories(discriminator, 1, features, targets + 1)
    with pytest.raises(ValueError, match=r"code must be in \[0, 2\), got 2"):
        refit_categories(discriminator, 2, features, targets)


def test_the_prior_is_set_to_the_shares_and_bad_shares_or_a_uniform_prior_are_refused():
    image_generator, _ = learned_prior_models()
    shares = torch.tensor([0.1, 0.2, 0.3, 0.4])
    set_prior_shares(image_generator, 1, shares)
    prior = image_generator.categorical_prior()
    assert torch.allclose(prior[1], shares) and torch.allclose(prior[0], torch.full((10,), 0.1))
    for bad in ([0.5, 0.5, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2], [0.5, 0.5]):
        with pytest.raises(ValueError, match="shares must be 4 positive numbers summing to 1"):
            set_prior_shares(image_generator, 1, torch.tensor(bad))
    with pytest.raises(ValueError, match="Only a learned prior can be set, this generator's is 'uniform'"):
        set_prior_shares(learned_prior_models("uniform")[0], 1, shares)
