"""category_split: an oversized category split in two, in G, Q, the learned prior and Adam's moments."""

import math

import pytest
import torch

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator
from infogan_hub.category_split import BIMODAL_MIN_SHARE, SPLIT_SHARPNESS, bimodal_candidates, principal_direction, split_category, two_means_bimodality

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


def test_bad_codes_and_categories_are_refused_with_what_is_allowed(small_models):
    image_generator, discriminator = small_models
    features = torch.randn(10, 16)
    with pytest.raises(ValueError, match=r"code must be in \[0, 1\), got 1"):
        split_category(image_generator, discriminator, 1, 0, 1, features)
    for source, target in ((3, 3), (0, 10), (-1, 2)):
        with pytest.raises(ValueError, match=r"two different categories in \[0, 10\)"):
            split_category(image_generator, discriminator, 0, source, target, features)
