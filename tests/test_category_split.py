"""category_split: an oversized category split in two, in G, Q, the learned prior and Adam's moments."""

import math

import pytest
import torch

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator
from infogan_hub.category_split import (
    BIMODAL_MIN_SHARE,
    SATELLITE_SOURCE_MIN_SHARE,
    SPLIT_SHARPNESS,
    bimodal_candidates,
    invariant_cut,
    invariant_direction,
    leaving_rate,
    pair_crossing,
    principal_direction,
    recut_candidates,
    recut_gain,
    satellite_split,
    split_category,
    two_means_bimodality,
)

from .conftest import SMALL_ARCHITECTURE


def learned_prior_models():
    torch.manual_seed(0)
    latent = dict(categorical_codes=(10, 4), categorical_prior="learned")
    return InfoGANGenerator(**SMALL_ARCHITECTURE, **latent).eval(), InfoGANDiscriminator(**SMALL_ARCHITECTURE, **latent, q_hidden_dim=16).eval()


def test_the_principal_direction_is_the_features_widest_spread():
    torch.manual_seed(0)
    features = torch.randn(500, 3) * torch.tensor([0.1, 3.0, 0.5]) + torch.tensor([1.0, 2.0, 3.0])
    mean, direction, spread = principal_direction(features)
    assert torch.allclose(mean, features.mean(dim=0))
    assert direction.norm() == pytest.approx(1.0) and direction[1].abs() > 0.99
    assert spread == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ValueError, match="at least 2 feature vectors"):
        principal_direction(features[:1])


def test_bimodality_is_two_over_pi_for_one_gaussian_mode_and_near_one_for_two_modes_far_apart():
    torch.manual_seed(0)
    one_mode = torch.randn(4000, 16)
    assert two_means_bimodality(one_mode) == pytest.approx(2 / math.pi, abs=0.01)
    two_modes = one_mode.clone()
    two_modes[:1000, 3] += 10.0  # a mode of a quarter of the images, far along one feature
    assert two_means_bimodality(two_modes) > 0.9
    # the score reads the widest direction only: a far mode that is not the widest spread still shows
    assert two_means_bimodality(torch.cat([two_modes, 20 * torch.randn(4000, 1)], dim=1)) < 0.7
    assert two_means_bimodality(torch.zeros(5, 3)) == 0.0  # no spread, no modes
    with pytest.raises(ValueError, match="at least 4 feature vectors, got 3"):
        two_means_bimodality(one_mode[:3])


def two_classes_cut_by_slant(count=2000, width=4):
    """Features of two classes (feature 0: -1 or +1, unmoved by the transform) whose widest spread
    is a slant (feature 1: spread 3) that each image's transformed copy moves a lot, with noise."""
    torch.manual_seed(0)
    classes = torch.randint(0, 2, (count,))
    features = torch.randn(count, width) * 0.5
    features[:, 0] += 2.0 * classes - 1
    features[:, 1] = 3.0 * torch.randn(count)
    copies = features + torch.randn(count, width) * torch.tensor([0.4, 3.0] + [0.3] * (width - 2))
    return classes, features, copies


def test_the_invariant_direction_is_the_spread_a_transform_does_not_move_and_cuts_by_class():
    classes, features, copies = two_classes_cut_by_slant()
    assert principal_direction(features)[1][1].abs() > 0.99  # the widest spread is the slant
    mean, direction, spread = invariant_direction(features, copies)
    assert torch.allclose(mean, features.mean(dim=0)) and direction.norm() == pytest.approx(1.0)
    assert direction[0].abs() > 0.95
    assert spread == pytest.approx(((features - mean) @ direction).std().item(), rel=1e-4)
    sides = (features - mean) @ direction > 0
    assert max((sides == (classes == 1)).float().mean(), (sides == (classes == 0)).float().mean()) > 0.95
    # invariant_cut is that cut, with the share of the images whose copy falls on its other side
    cut_sides, cut_crossing = invariant_cut(features, copies)
    assert torch.equal(cut_sides, sides) and cut_crossing == pytest.approx((((copies - mean) @ direction > 0) != sides).float().mean().item())
    with pytest.raises(ValueError, match=r"at least 2 feature vectors and a copy of each, got \(5, 4\) and \(4, 4\)"):
        invariant_direction(features[:5], copies[:4])


def test_the_invariant_direction_is_solved_on_the_features_device():
    # PyTorch's meta device stands in for a GPU: a tensor made on the CPU beside its features raises, as beside CUDA ones
    _, features, copies = two_classes_cut_by_slant()
    mean, direction, spread = invariant_direction(features.to("meta"), copies.to("meta"))
    assert {mean.device.type, direction.device.type, spread.device.type} == {"meta"}
    assert direction.shape == (features.shape[1],)


def test_a_slant_cut_pair_crosses_often_and_a_cut_along_the_invariant_direction_crosses_less():
    classes, features, copies = two_classes_cut_by_slant()
    # Q's categories 3 and 7 cut the images by slant; the copies' slant moves, so many cross
    decisions = torch.where(features[:, 1] > 0, 3, 7)
    copy_decisions = torch.where(copies[:, 1] > 0, 3, 7)
    copy_decisions[:10] = 5  # crossing to a third category is not crossing within the pair
    crossed = ((decisions != copy_decisions) & (copy_decisions != 5)).float().mean().item()
    crossing = pair_crossing(decisions, copy_decisions, 3, 7)
    assert crossing == pytest.approx(crossed) and crossing > 0.2
    assert pair_crossing(decisions, copy_decisions, 3, 4) == 0.0  # category 4 holds no image
    assert recut_candidates(decisions, copy_decisions, 10, above=0.2) == [(3, 7, crossing)]
    assert recut_candidates(decisions, copy_decisions, 10, above=crossing) == []  # above, not at
    few = decisions.clone()
    few[:30] = 5  # 1.5% of the images: too few to be a candidate, though their copies cross into 3 and 7
    assert [(first, second) for first, second, _ in recut_candidates(few, copy_decisions, 10, above=0.0)] == [(3, 7)]
    assert recut_gain(invariant_cut(features, copies)[1], crossing) < 0.3
    # a pair already cut by class gains nothing from a re-cut: its copies cross the invariant cut about as often
    by_class, copies_by_class = (torch.where(values[:, 0] > 0, 3, 7) for values in (features, copies))
    class_crossing = pair_crossing(by_class, copies_by_class, 3, 7)
    assert 0.02 < class_crossing < 0.1 and 0.8 < recut_gain(invariant_cut(features, copies)[1], class_crossing) < 1.25
    assert recut_gain(0.05, 0.0) == math.inf


def satellite_code(merged: int):
    """A code's decisions and Q's features (and a copy's): category 0 holds `merged` images of two classes
    (`two_classes_cut_by_slant`), 1 and 2 one blob of 1200 cut by slant, 3 (the smallest) 40 of the blob's
    images, 30 of whose copies Q puts in 1."""
    _, features, copies = two_classes_cut_by_slant(count=merged)
    blob = torch.randn(1200, features.shape[1]) * 0.5
    blob_copies = blob + torch.randn(1200, features.shape[1]) * torch.tensor([0.3, 3.0] + [0.3] * (features.shape[1] - 2))
    decisions = torch.cat([torch.zeros(merged, dtype=torch.long), torch.where(blob[:, 1] > 0, 1, 2)])
    decisions[-40:] = 3
    copy_decisions = decisions.clone()
    copy_decisions[-40:-10] = 1
    return decisions, copy_decisions, torch.cat([features, blob]), torch.cat([copies, blob_copies])


def own_cut_crossings(decisions, features, copies, asked=None):
    """satellite_split's `cut_crossing`: each category's own invariant_cut crossing, noting in `asked` which categories were asked."""

    def cut_crossing(category):
        if asked is not None:
            asked.append(category)
        return invariant_cut(features[decisions == category], copies[decisions == category])[1]

    return cut_crossing


def test_a_satellite_s_place_goes_to_the_category_its_own_invariant_cut_parts_most_cleanly():
    decisions, copy_decisions, features, copies = satellite_code(merged=2000)
    assert leaving_rate(decisions, copy_decisions, 3) == pytest.approx(0.75) and leaving_rate(decisions, copy_decisions, 0) == 0.0
    assert math.isnan(leaving_rate(decisions, copy_decisions, 4))
    asked = []
    source, target, leaving, cut_crossing = satellite_split(decisions, copy_decisions, own_cut_crossings(decisions, features, copies, asked), 4)
    assert (source, target, leaving) == (0, 3, pytest.approx(0.75))
    assert sorted(asked) == [0, 1, 2]  # not the smallest, whose place the split takes
    crossing_of = own_cut_crossings(decisions, features, copies)
    assert cut_crossing == pytest.approx(crossing_of(0)) and cut_crossing < 0.1
    assert min(crossing_of(category) for category in (1, 2)) > 0.1  # one class each: no clean cut
    # an empty smallest category is no satellite: the share and bimodality splits fill it
    assert satellite_split(decisions, copy_decisions, crossing_of, 5) is None
    # a category of less than SATELLITE_SOURCE_MIN_SHARE is no source, however cleanly its cut parts it, and is not read
    decisions, copy_decisions, features, copies = satellite_code(merged=60)
    assert SATELLITE_SOURCE_MIN_SHARE == 0.05 and (decisions == 0).float().mean() < 0.05
    asked = []
    assert satellite_split(decisions, copy_decisions, own_cut_crossings(decisions, features, copies, asked), 4)[:2] in ((1, 3), (2, 3))
    assert sorted(asked) == [1, 2]


def test_bimodal_candidates_leave_out_the_smallest_category_and_those_too_small_to_score():
    shares = [0.30, 0.015, 0.02, 0.25, 0.005, 0.41]
    assert bimodal_candidates(shares) == [0, 2, 3, 5]  # 4 is the smallest; 1 holds less than 2%
    assert BIMODAL_MIN_SHARE == 0.02 and bimodal_candidates([0.5, 0.25, 0.25]) == [0, 2]  # the first of equal smallest is left out
    assert bimodal_candidates([0.1, 0.01]) == [0]


def test_a_split_makes_twins_in_g_and_the_prior_and_parts_q_s_reading_along_the_direction():
    image_generator, discriminator = learned_prior_models()
    code, source, target = 1, 2, 0  # the second code: its positions follow the first code's ten
    with torch.no_grad():
        image_generator.categorical_prior_logits[10:] = torch.tensor([0.5, -1.0, 2.0, 0.0])
    generator_optimizer = torch.optim.Adam(image_generator.parameters())
    discriminator_optimizer = torch.optim.Adam(discriminator.parameters())
    for model, optimizer in ((image_generator, generator_optimizer), (discriminator, discriminator_optimizer)):
        sum(parameter.square().sum() for parameter in model.parameters()).backward()
        optimizer.step()
    prior_before = image_generator.categorical_prior()[1].clone()
    first_code_before = image_generator.categorical_prior()[0].clone()
    q_features = torch.randn(200, 16) * 0.3 + torch.randn(16)
    q_layer = discriminator.q_head[-1]
    other_rows = [row for row in range(q_layer.weight.shape[0]) if row not in (10 + source, 10 + target)]
    other_weights, logits_before = q_layer.weight[other_rows].clone(), q_layer(q_features).detach()

    split_category(image_generator, discriminator, code, source, target, q_features, optimizers=(generator_optimizer, discriminator_optimizer))

    # G draws the same for both categories, and a learned prior gives each half of their probability
    noise = torch.randn(4, image_generator.latent_spec.noise_dim)
    continuous = torch.zeros(4, 2)
    def images(category):
        one_hots = [torch.nn.functional.one_hot(torch.full((4,), 3), 10).float(), torch.nn.functional.one_hot(torch.full((4,), category), 4).float()]
        return image_generator(torch.cat([noise, *one_hots, continuous], dim=1))
    assert torch.equal(images(source), images(target)) and not torch.equal(images(source), images(1))
    prior = image_generator.categorical_prior()[1]
    half = (prior_before[source] + prior_before[target]) / 2
    assert prior[source].item() == pytest.approx(half.item(), rel=1e-5) and prior[target].item() == pytest.approx(half.item(), rel=1e-5)
    assert torch.allclose(prior[[1, 3]], prior_before[[1, 3]]) and torch.allclose(image_generator.categorical_prior()[0], first_code_before)

    # Q: the two logits share the old one's mean and differ by SPLIT_SHARPNESS standard deviations of the projection
    mean, direction, spread = principal_direction(q_features)
    logits = q_layer(q_features).detach()
    difference = logits[:, 10 + source] - logits[:, 10 + target]
    assert torch.allclose(difference, SPLIT_SHARPNESS * (q_features - mean) @ direction / spread, atol=1e-4)
    assert torch.allclose((logits[:, 10 + source] + logits[:, 10 + target]) / 2, logits_before[:, 10 + source], atol=1e-4)
    assert torch.equal(q_layer.weight[other_rows], other_weights)

    # Adam's moments of the target's weights are the source's
    first_layer_state = generator_optimizer.state[image_generator.layers[0].weight]
    column = image_generator.latent_spec.noise_dim + 10
    for moment in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(first_layer_state[moment][:, column + target], first_layer_state[moment][:, column + source])
        assert torch.equal(discriminator_optimizer.state[q_layer.weight][moment][10 + target], discriminator_optimizer.state[q_layer.weight][moment][10 + source])
        prior_state = generator_optimizer.state[image_generator.categorical_prior_logits][moment]
        assert prior_state[10 + target] == prior_state[10 + source]


def test_a_re_cut_parts_q_s_reading_of_the_pair_along_the_invariant_direction():
    image_generator, discriminator = learned_prior_models()
    classes, features, copies = two_classes_cut_by_slant(width=16)
    split_category(image_generator, discriminator, 0, 6, 2, features, copy_q_features=copies)
    mean, direction, spread = invariant_direction(features, copies)
    logits = discriminator.q_head[-1](features).detach()
    difference = logits[:, 6] - logits[:, 2]
    assert torch.allclose(difference, SPLIT_SHARPNESS * (features - mean) @ direction / spread, atol=1e-4)
    reads_six = difference > 0
    assert max((reads_six == (classes == 1)).float().mean(), (reads_six == (classes == 0)).float().mean()) > 0.95


def test_bad_codes_and_categories_are_refused_with_what_is_allowed(small_models):
    image_generator, discriminator = small_models
    features = torch.randn(10, 16)
    with pytest.raises(ValueError, match=r"code must be in \[0, 1\), got 1"):
        split_category(image_generator, discriminator, 1, 0, 1, features)
    for source, target in ((3, 3), (0, 10), (-1, 2)):
        with pytest.raises(ValueError, match=r"two different categories in \[0, 10\)"):
            split_category(image_generator, discriminator, 0, source, target, features)
