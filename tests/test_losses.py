import math

import pytest
import torch

from infogan_hub import (
    LatentSpec,
    categorical_prior_em_update,
    categorical_prior_loss,
    categorical_prior_matching_loss,
    categorical_shares,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    information_terms,
)
from infogan_hub.latent import QOutput


def _q(spec, logits, mean, log_variance):
    return QOutput([logits], mean, log_variance)


def test_a_q_that_recovers_the_code_reaches_the_entropy():
    spec = LatentSpec(noise_dim=2, categorical_codes=(10,), continuous_codes=1)
    latents = spec.sample(500, generator=torch.Generator().manual_seed(0))
    perfect = torch.nn.functional.one_hot(latents.categorical[:, 0], 10).float() * 50
    terms = information_terms(spec, _q(spec, perfect, latents.continuous, torch.zeros(500, 1)), latents)
    assert terms.categorical_lower_bound.item() == pytest.approx(math.log(10), abs=1e-4)
    assert terms.categorical_cross_entropy.item() == pytest.approx(0, abs=1e-4)


def test_a_q_that_knows_nothing_has_a_zero_bound():
    spec = LatentSpec(noise_dim=2, categorical_codes=(10,), continuous_codes=1)
    latents = spec.sample(100, generator=torch.Generator().manual_seed(0))
    terms = information_terms(spec, _q(spec, torch.zeros(100, 10), torch.zeros(100, 1), torch.zeros(100, 1)), latents)
    assert terms.categorical_lower_bound.item() == pytest.approx(0, abs=1e-6)


def test_continuous_term_is_the_gaussian_negative_log_likelihood():
    spec = LatentSpec(noise_dim=2, categorical_codes=(3,), continuous_codes=2)
    latents = spec.sample(64, generator=torch.Generator().manual_seed(1))
    mean, log_variance = torch.randn(64, 2), torch.randn(64, 2)
    terms = information_terms(spec, _q(spec, torch.zeros(64, 3), mean, log_variance), latents)
    expected = -torch.distributions.Normal(mean, (0.5 * log_variance).exp()).log_prob(latents.continuous).mean(0)
    torch.testing.assert_close(terms.continuous_negative_log_likelihood, expected)
    torch.testing.assert_close(terms.continuous_lower_bound, math.log(2) - expected)


def test_loss_weights_each_code_type():
    spec = LatentSpec(noise_dim=2, categorical_codes=(3,), continuous_codes=1)
    latents = spec.sample(8, generator=torch.Generator().manual_seed(2))
    terms = information_terms(spec, _q(spec, torch.randn(8, 3), torch.randn(8, 1), torch.zeros(8, 1)), latents)
    ce, nll = terms.categorical_cross_entropy.sum(), terms.continuous_negative_log_likelihood.sum()
    torch.testing.assert_close(terms.loss(1.0, 0.1), ce + 0.1 * nll)
    assert terms.loss(0.0, 0.0).item() == 0


def test_adversarial_losses():
    confident_real, confident_fake = torch.full((4,), 20.0), torch.full((4,), -20.0)
    assert discriminator_adversarial_loss(confident_real, confident_fake).item() == pytest.approx(0, abs=1e-6)
    assert generator_adversarial_loss(confident_fake).item() == pytest.approx(20, abs=1e-3)
    # minimax saturates where the generator is worst: its gradient vanishes (the paper's reason for the other form)
    logits = confident_fake.clone().requires_grad_()
    generator_adversarial_loss(logits, "minimax").backward()
    assert logits.grad.abs().max() < 1e-7
    with pytest.raises(ValueError, match="adversarial loss must be one of"):
        generator_adversarial_loss(confident_fake, "wasserstein")


def test_consistency_is_largest_for_confident_agreeing_categories_that_use_every_category():
    from infogan_hub import categorical_consistency_loss

    every_category = torch.eye(10).repeat(20, 1) * 50  # confident, agreeing, all ten used equally
    assert categorical_consistency_loss(every_category, every_category).item() == pytest.approx(-math.log(10), abs=1e-3)
    one_category = torch.zeros(200, 10)
    one_category[:, 3] = 50  # agreeing, but everything in one category: the merge IIC rules out
    assert categorical_consistency_loss(one_category, one_category).item() == pytest.approx(0, abs=1e-3)
    uncertain = torch.zeros(200, 10)
    assert categorical_consistency_loss(uncertain, uncertain).item() == pytest.approx(0, abs=1e-5)
    shuffled = every_category[torch.randperm(200, generator=torch.Generator().manual_seed(0))]  # the copy disagrees
    assert categorical_consistency_loss(every_category, shuffled).item() > -1.0


def test_minimising_consistency_makes_a_transformed_copy_agree_with_its_image():
    from infogan_hub import categorical_consistency_loss

    logits = torch.eye(10).repeat(10, 1) * 5
    noise = torch.randn(100, 10, generator=torch.Generator().manual_seed(0))
    transformed = (0.3 * logits + noise).requires_grad_()  # agrees with its image only now and then
    before = (transformed.argmax(dim=1) == logits.argmax(dim=1)).float().mean()
    optimizer = torch.optim.SGD([transformed], lr=100.0)
    for _ in range(50):
        optimizer.zero_grad()
        categorical_consistency_loss(logits, transformed).backward()
        optimizer.step()
    after = (transformed.argmax(dim=1) == logits.argmax(dim=1)).float().mean()
    assert before < 0.6 and after > 0.95


def test_consistency_rejects_logits_of_different_shapes():
    from infogan_hub import categorical_consistency_loss

    with pytest.raises(ValueError, match="one shape"):
        categorical_consistency_loss(torch.zeros(4, 10), torch.zeros(4, 9))


def test_a_larger_marginal_entropy_weight_penalises_an_unused_category_more():
    from infogan_hub import categorical_consistency_loss

    nine_used = torch.eye(10)[torch.arange(180) % 9] * 50  # confident and agreeing, but category 9 is empty
    plain = categorical_consistency_loss(nine_used, nine_used)
    assert plain.item() == pytest.approx(-math.log(9), abs=1e-3)
    # joint = diag(p): -(1 - 2 lambda) H(p), so lambda 2 gives -3 H
    assert categorical_consistency_loss(nine_used, nine_used, marginal_entropy_weight=2.0).item() == pytest.approx(-3 * math.log(9), abs=1e-3)
    every = torch.eye(10)[torch.arange(200) % 10] * 50
    gap = lambda weight: (categorical_consistency_loss(nine_used, nine_used, weight) - categorical_consistency_loss(every, every, weight)).item()  # noqa: E731
    assert gap(2.0) > gap(1.0) > 0  # using all ten categories pays more with the larger weight


def test_the_continuous_warmup_is_off_for_half_the_steps_then_ramps_to_full():
    from infogan_hub import continuous_warmup_factor

    assert [continuous_warmup_factor(step, 2000) for step in (0, 999, 1000, 1500, 2000, 9000)] == [0, 0, 0, 0.5, 1, 1]
    assert continuous_warmup_factor(0, 0) == 1  # no warm-up: full weight from the start
    with pytest.raises(ValueError, match="0 or positive"):
        continuous_warmup_factor(5, -1)


def test_with_a_prior_the_consistency_asks_the_marginals_to_follow_it_not_to_be_even():
    from infogan_hub import categorical_consistency_loss

    random = torch.randn(64, 10), torch.randn(64, 10)
    uniform = torch.full((10,), 0.1)
    # a uniform prior is IIC itself, up to the constant (2 lambda - 1) ln K
    for weight in (1.0, 2.0):
        assert (categorical_consistency_loss(*random, weight, prior=uniform) - categorical_consistency_loss(*random, weight)).item() == pytest.approx(
            (2 * weight - 1) * math.log(10), abs=1e-4
        )
    prior = torch.tensor([0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01])
    follows = torch.eye(10)[torch.multinomial(prior, 1000, replacement=True, generator=torch.Generator().manual_seed(0))] * 50
    even = torch.eye(10)[torch.arange(1000) % 10] * 50
    assert categorical_consistency_loss(follows, follows, prior=prior) < categorical_consistency_loss(even, even, prior=prior)
    assert categorical_consistency_loss(follows, follows) > categorical_consistency_loss(even, even)  # IIC alone prefers even sizes
    with pytest.raises(ValueError, match=r"prior must have shape \(10,\)"):
        categorical_consistency_loss(even, even, prior=torch.full((9,), 1 / 9))


def test_with_a_prior_confident_agreeing_categories_cost_least_at_the_priors_sizes_not_sharper_or_flatter():
    from infogan_hub import categorical_consistency_loss

    prior = torch.tensor([0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.01])

    def at_sizes(shares: torch.Tensor, weight: float) -> float:  # hard, agreeing assignments in these proportions
        counts = (shares / shares.sum() * 10_000).round().long()
        logits = torch.eye(10).repeat_interleave(counts, dim=0) * 50
        return categorical_consistency_loss(logits, logits, weight, prior=prior).item()

    for weight in (1.0, 2.0):
        assert at_sizes(prior, weight) < at_sizes(prior**2, weight)  # the rich-get-richer sizes
        assert at_sizes(prior, weight) < at_sizes(prior.sqrt(), weight)
        assert at_sizes(prior, weight) == pytest.approx(0, abs=1e-3)  # no conditional entropy, no KL


def test_the_size_barrier_is_kl_from_uniform_to_q_s_shares_unbounded_as_a_category_empties_weak_on_unequal_ones():
    from infogan_hub import categorical_size_barrier

    def at_shares(shares: torch.Tensor) -> float:  # hard assignments in these proportions, both copies alike
        logits = torch.eye(10).repeat_interleave((shares * 10_000).round().long(), dim=0) * 50
        return categorical_size_barrier(logits, logits).item()

    assert at_shares(torch.full((10,), 0.1)) == pytest.approx(0, abs=1e-6)
    unequal = torch.tensor([0.16, 0.15, 0.14, 0.12, 0.11, 0.1, 0.1, 0.06, 0.03, 0.03])  # an imbalanced split's sizes
    assert at_shares(unequal) == pytest.approx(-(unequal.log().mean() + math.log(10)).item(), rel=1e-4)
    emptying = [at_shares(torch.tensor([0.2 - share] + [0.1] * 8 + [share])) for share in (0.07, 0.007, 0.0007)]
    assert emptying[0] < at_shares(unequal) < emptying[1] < emptying[2]
    assert emptying[2] - emptying[1] == pytest.approx(math.log(10) / 10, rel=0.02)  # each tenfold fall of a share costs as much: no bound
    # the marginal is that of both copies: an image and its copy in different categories count in both
    images, copies = torch.eye(10)[torch.arange(100) % 5] * 50, torch.eye(10)[5 + torch.arange(100) % 5] * 50
    assert categorical_size_barrier(images, copies).item() == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="Both logits must be"):
        categorical_size_barrier(torch.zeros(4, 10), torch.zeros(4, 9))


def test_the_size_barrier_with_a_floor_costs_nothing_above_it_and_pulls_below_it_as_the_kl_does():
    from infogan_hub import categorical_size_barrier

    def at_shares(shares: list[float], floor=None) -> float:
        logits = torch.tensor(shares).log().expand(8, -1)  # every image's posterior equals the shares: the marginal is them
        return categorical_size_barrier(logits, logits, floor=floor).item()

    unequal = [0.25, 0.16, 0.15, 0.14, 0.12, 0.1, 0.06, 0.01, 0.007, 0.003]
    assert at_shares(unequal, floor=0.02) == pytest.approx(sum(math.log(0.02 / share) for share in (0.01, 0.007, 0.003)) / 10, rel=1e-4)
    # mass moved between two categories above the floor: the KL pays, the floored barrier does not
    moved = [0.2, 0.21, *unequal[2:]]
    assert at_shares(moved, floor=0.02) == pytest.approx(at_shares(unequal, floor=0.02), abs=1e-6)
    assert at_shares(moved) != pytest.approx(at_shares(unequal), abs=1e-3)
    # a category below the floor gains 0.002 from the largest: the KL's gain on its own, (1/K) log(0.005 / 0.003)
    fed = [0.248, *unequal[1:9], 0.005]
    assert at_shares(unequal, floor=0.02) - at_shares(fed, floor=0.02) == pytest.approx(math.log(0.005 / 0.003) / 10, rel=1e-3)
    assert at_shares([0.1] * 10, floor=0.1) == pytest.approx(0, abs=1e-6)
    for floor in (0.0, 0.11, -0.01):
        with pytest.raises(ValueError, match=f"floor must be in \\(0, 1/10\\] \\(one over the number of categories\\), got {floor}"):
            categorical_size_barrier(torch.zeros(4, 10), torch.zeros(4, 10), floor=floor)


def test_with_running_shares_the_size_terms_push_by_them_not_by_one_batch_s_draw_of_the_classes():
    from infogan_hub import categorical_consistency_loss, categorical_consistency_marginal, categorical_size_barrier

    prior = torch.tensor([0.25, 0.16, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04, 0.025, 0.015])
    # a batch of 64 that drew no image of the two rarest classes, each image confident and agreeing with its copy
    batch = torch.eye(10)[torch.multinomial(prior[:8], 64, replacement=True, generator=torch.Generator().manual_seed(0))] * 5
    # the running shares equal to this batch's: the KL form of IIC, which differs from it by the constant (2 lambda - 1) ln K
    for weight in (1.0, 2.0):
        here = categorical_consistency_marginal(batch, batch)
        assert (categorical_consistency_loss(batch, batch, weight, running_marginal=here) - categorical_consistency_loss(batch, batch, weight)).item() == pytest.approx(
            (2 * weight - 1) * math.log(10), abs=1e-4
        )

    def gradient(loss_of) -> torch.Tensor:
        logits = batch.clone().requires_grad_()
        loss_of(logits).backward()
        return logits.grad

    # shares at the prior over recent batches: the KL pushes nothing, only H(c | c') acts (the loss at lambda 1/2)
    only_conditional = gradient(lambda logits: categorical_consistency_loss(logits, logits, 0.5, prior=prior))
    at_running = gradient(lambda logits: categorical_consistency_loss(logits, logits, prior=prior, running_marginal=prior))
    per_batch = gradient(lambda logits: categorical_consistency_loss(logits, logits, prior=prior))
    assert torch.allclose(at_running, only_conditional, atol=1e-6)
    # a per-batch KL's own part raises the absent categories' logits (descending): it pulls images into them
    assert (per_batch - only_conditional)[:, 8:].sum() < 0
    # the floor: nothing to pay while the running shares are above it, though this batch lacks two categories
    floored = gradient(lambda logits: categorical_size_barrier(logits, logits, floor=0.01, running_marginal=prior))
    assert floored.abs().max() == 0 and categorical_size_barrier(batch, batch, floor=0.01).item() > 0
    # and the KL's pull, at the running shares' value, when a category is small over many batches
    small = torch.tensor([0.26, 0.16, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04, 0.025, 0.005])
    assert categorical_size_barrier(batch, batch, floor=0.01, running_marginal=small).item() == pytest.approx(math.log(0.01 / 0.005) / 10, rel=1e-5)
    assert gradient(lambda logits: categorical_size_barrier(logits, logits, floor=0.01, running_marginal=small))[:, 9].sum() < 0
    with pytest.raises(ValueError, match=r"running_marginal must have shape \(10,\), one share per category, got \(9,\)"):
        categorical_size_barrier(batch, batch, running_marginal=torch.full((9,), 1 / 9))
    with pytest.raises(ValueError, match=r"running_marginal must have shape \(10,\)"):
        categorical_consistency_loss(batch, batch, prior=prior, running_marginal=torch.full((9,), 1 / 9))


def test_the_contrastive_consistency_is_simclr_s_nt_xent_least_when_each_copy_is_nearest_its_own_image():
    from infogan_hub import contrastive_consistency_loss

    generator = torch.Generator().manual_seed(0)  # the global stream's state depends on which tests ran before
    features, transformed = torch.randn(3, 5, generator=generator), torch.randn(3, 5, generator=generator)
    # NT-Xent by its definition: each of the 2N views against the other 2N - 1, its pair the positive
    views = torch.nn.functional.normalize(torch.cat([features, transformed]), dim=1)
    expected = sum(
        -(views[i] @ views[(i + 3) % 6] / 0.5).exp().div(sum((views[i] @ views[k] / 0.5).exp() for k in range(6) if k != i)).log()
        for i in range(6)
    ) / 6
    assert contrastive_consistency_loss(features, transformed, temperature=0.5).item() == pytest.approx(expected.item(), rel=1e-5)
    images = torch.randn(64, 16, generator=generator)
    copies = images + 0.1 * torch.randn(64, 16, generator=generator)
    assert contrastive_consistency_loss(images, copies).item() < contrastive_consistency_loss(images, copies[torch.randperm(64, generator=generator)]).item() - 0.5
    # sharp: each copy is found (chance is ln 127 = 4.8; over 300 draws of these images the loss stays below 0.12)
    assert contrastive_consistency_loss(images, copies, temperature=0.1).item() < 0.2
    with pytest.raises(ValueError, match="one shape"):
        contrastive_consistency_loss(torch.zeros(4, 8), torch.zeros(4, 7))
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        contrastive_consistency_loss(images, copies, temperature=0)


def test_the_prior_loss_moves_probability_from_categories_d_rejects_to_ones_it_accepts():
    logits = torch.zeros(3, requires_grad=True)
    categories = torch.tensor([0, 0, 1, 1, 2, 2])
    # D rejects category 0's fakes (loss 3), accepts category 2's (loss 1); category 1 is average.
    sample_losses = torch.tensor([3.0, 3.0, 2.0, 2.0, 1.0, 1.0])
    loss = categorical_prior_loss(logits.softmax(dim=0), categories, sample_losses)
    assert loss.item() == pytest.approx(2.0)  # sum_k prior_k * mean loss of category k
    loss.backward()
    assert logits.grad[0] > 0 and logits.grad[2] < 0 and logits.grad[1].abs() < 1e-7  # descent: 0 falls, 2 rises


def test_a_category_absent_from_the_batch_is_not_pushed_and_losses_are_not_trained_through():
    logits = torch.zeros(3, requires_grad=True)
    sample_losses = torch.tensor([3.0, 1.0], requires_grad=True)
    categorical_prior_loss(logits.softmax(dim=0), torch.tensor([0, 1]), sample_losses).backward()
    assert logits.grad[2].abs() < 1e-7
    assert sample_losses.grad is None, "the term trains the prior only, not G through the losses"
    with pytest.raises(ValueError, match="the same shape"):
        categorical_prior_loss(logits.softmax(dim=0), torch.tensor([0, 1, 2]), torch.ones(2))


def test_per_sample_generator_losses_average_to_the_reduced_one():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    for kind in ("non_saturating", "minimax"):
        per_sample = generator_adversarial_loss(logits, kind, reduction="none")
        assert per_sample.shape == (3,) and per_sample.mean().item() == pytest.approx(generator_adversarial_loss(logits, kind).item())


def test_the_matching_loss_is_least_when_the_prior_equals_q_s_share_of_real_images():
    real_logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]] * 4))  # Q puts 70% of the real images in category 0
    logits = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.SGD([logits], lr=1.0)
    for _ in range(300):
        optimizer.zero_grad()
        categorical_prior_matching_loss(logits.softmax(dim=0), real_logits).backward()
        optimizer.step()
    assert torch.allclose(logits.softmax(dim=0), torch.tensor([0.7, 0.2, 0.1]), atol=1e-3)
    with pytest.raises(ValueError, match="one logit per category"):
        categorical_prior_matching_loss(logits.softmax(dim=0), torch.zeros(4, 5))


def test_the_em_update_moves_the_prior_to_q_s_share_of_real_images_and_at_rate_1_sets_it():
    real_logits = [torch.log(torch.tensor([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1]])), torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5]]))]
    shares = categorical_shares(real_logits)
    assert torch.allclose(shares, torch.tensor([0.7, 0.2, 0.1, 0.5, 0.5]))
    logits = torch.zeros(5)
    assert torch.allclose(categorical_prior_em_update(logits, [3, 2], shares, 1.0).exp(), shares)
    halfway = categorical_prior_em_update(logits, [3, 2], shares, 0.5).exp()
    assert torch.allclose(halfway, torch.tensor([(1 / 3 + 0.7) / 2, (1 / 3 + 0.2) / 2, (1 / 3 + 0.1) / 2, 0.5, 0.5]))
    for _ in range(500):  # a moving average: fixed shares are reached geometrically
        logits = categorical_prior_em_update(logits, [3, 2], shares, 0.05)
    assert torch.allclose(logits.exp(), shares, atol=1e-6)


def test_the_em_update_refuses_a_bad_rate_or_shape():
    with pytest.raises(ValueError, match="rate must be in \\(0, 1\\], got 0"):
        categorical_prior_em_update(torch.zeros(3), [3], torch.full((3,), 1 / 3), 0)
    with pytest.raises(ValueError, match="must both have shape \\(3,\\), one entry per category, got \\(3,\\) and \\(4,\\)"):
        categorical_prior_em_update(torch.zeros(3), [3], torch.full((4,), 0.25), 0.1)


def test_the_em_update_s_floor_keeps_a_category_q_stopped_using():
    shares = torch.tensor([0.6, 0.4, 0.0])
    logits = torch.zeros(3)
    for _ in range(500):
        logits = categorical_prior_em_update(logits, [3], shares, 0.05, min_share=0.05)
    assert torch.allclose(logits.exp(), torch.tensor([0.6 * 0.85 + 0.05, 0.4 * 0.85 + 0.05, 0.05]), atol=1e-5)
    with pytest.raises(ValueError, match="min_share must be at least 0 and below 1/3"):
        categorical_prior_em_update(logits, [3], shares, 0.05, min_share=0.4)


def test_hard_shares_count_q_s_decisions_and_soft_ones_average_its_posteriors():
    real_logits = [torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.4, 0.35, 0.25], [0.1, 0.6, 0.3], [0.46, 0.1, 0.44]]))]
    assert torch.allclose(categorical_shares(real_logits, hard=True), torch.tensor([0.75, 0.25, 0.0]))
    assert torch.allclose(categorical_shares(real_logits), torch.tensor([0.365, 0.3375, 0.2975]))
