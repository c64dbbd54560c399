import math

import pytest
import torch

from infogan_hub import LatentSpec


@pytest.fixture
def spec():
    return LatentSpec(noise_dim=5, categorical_codes=(10, 3), continuous_codes=2)


def test_sizes_are_derived_from_the_codes(spec):
    assert spec.input_dim == 5 + 10 + 3 + 2
    assert spec.q_output_dim == 10 + 3 + 2 * 2
    assert spec.code_names == ["categorical_0", "categorical_1", "continuous_0", "continuous_1"]


def test_categorical_entropy_is_log_of_the_number_of_categories(spec):
    assert spec.categorical_entropy() == pytest.approx([math.log(10), math.log(3)])
    assert LatentSpec().categorical_entropy()[0] == pytest.approx(2.302585, abs=1e-6)


def test_sampling_honours_the_generator_and_the_priors(spec):
    first = spec.sample(256, generator=torch.Generator().manual_seed(3))
    second = spec.sample(256, generator=torch.Generator().manual_seed(3))
    other = spec.sample(256, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first.noise, second.noise) and torch.equal(first.categorical, second.categorical)
    assert not torch.equal(first.noise, other.noise)
    assert first.noise.abs().max() <= 1 and first.continuous.abs().max() <= 1
    assert first.categorical[:, 0].unique().tolist() == list(range(10))
    assert first.categorical[:, 1].max() == 2


def test_normal_priors_reach_beyond_one():
    spec = LatentSpec(noise_dim=8, noise_prior="normal", continuous_codes=3, continuous_prior="normal")
    latents = spec.sample(2000, generator=torch.Generator().manual_seed(0))
    assert latents.noise.abs().max() > 2 and latents.continuous.abs().max() > 2
    assert latents.continuous.std().item() == pytest.approx(1.0, abs=0.05)


def test_fixing_one_code_leaves_the_other_samples_unchanged(spec):
    free = spec.prepare(4, generator=torch.Generator().manual_seed(1))
    fixed = spec.prepare(4, categorical=[7, None], continuous=[None, 1.5], generator=torch.Generator().manual_seed(1))
    assert torch.equal(fixed.noise, free.noise)
    assert fixed.categorical[:, 0].tolist() == [7] * 4 and torch.equal(fixed.categorical[:, 1], free.categorical[:, 1])
    assert torch.equal(fixed.continuous[:, 0], free.continuous[:, 0]) and fixed.continuous[:, 1].tolist() == [1.5] * 4


def test_per_sample_codes_as_a_tensor(spec):
    codes = torch.tensor([[0, 2], [9, 1]])
    assert torch.equal(spec.prepare(2, categorical=codes).categorical, codes)


def test_generator_input_concatenates_noise_one_hots_and_continuous(spec):
    latents = spec.prepare(1, categorical=[4, 2], continuous=[0.25, -2.0], generator=torch.Generator().manual_seed(0))
    row = spec.generator_input(latents)[0]
    assert torch.equal(row[:5], latents.noise[0])
    assert row[5:15].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert row[15:18].tolist() == [0, 0, 1]
    assert row[18:].tolist() == [0.25, -2.0]


def test_split_q_output_by_code(spec):
    q = spec.split_q_output(torch.arange(spec.q_output_dim, dtype=torch.float32).unsqueeze(0))
    assert [logits.shape[1] for logits in q.categorical_logits] == [10, 3]
    assert q.continuous_mean.tolist() == [[13.0, 14.0]] and q.continuous_log_variance.tolist() == [[15.0, 16.0]]
    with pytest.raises(ValueError, match="needs 17"):
        spec.split_q_output(torch.zeros(1, 3))


def test_config_round_trip_through_json_lists(spec):
    config = spec.to_config()
    assert config["categorical_codes"] == [10, 3]
    assert LatentSpec.from_config({**config, "image_size": 28}) == spec


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"categorical": [1]}, "Expected 2 categorical value"),
        ({"categorical": [10, 0]}, r"categorical_0 has 10 categories, so its values must lie in 0\.\.9"),
        ({"categorical": [0, -1]}, r"lie in 0\.\.2"),
        ({"categorical": [2.5, 0]}, "whole numbers"),
        ({"categorical": torch.zeros(3, 2)}, r"shape \(batch_size, 2\) = \(4, 2\), got \(3, 2\)"),
        ({"continuous": [float("nan"), 0.0]}, "must be finite"),
        ({"continuous": torch.full((4, 2), float("nan"))}, "NaN"),
        ({"continuous": [0.0, 0.0, 0.0]}, "Expected 2 continuous value"),
        ({"continuous": ["left", 0.0]}, "must be a number or None"),
        ({"noise": torch.zeros(4, 6)}, r"noise must have shape \(batch_size, noise_dim\) = \(4, 5\)"),
        ({"noise": torch.full((4, 5), float("inf"))}, "noise contains NaN or infinite"),
    ],
)
def test_invalid_codes_get_clear_errors(spec, arguments, message):
    with pytest.raises(ValueError, match=message):
        spec.prepare(4, **arguments)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"categorical_codes": (1,)}, "at least 2"),
        ({"continuous_codes": -1}, "non-negative"),
        ({"noise_prior": "cauchy"}, "noise_prior must be one of"),
        ({"noise_dim": 0, "categorical_codes": (), "continuous_codes": 0}, "at least one input"),
        ({"categorical_prior": "dirichlet"}, r"categorical_prior must be one of \('uniform', 'learned'\)"),
    ],
)
def test_invalid_specs_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        LatentSpec(**fields)


def test_bad_batch_size_and_unknown_code_names(spec):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        spec.prepare(0)
    with pytest.raises(ValueError, match="Unknown code 'continuous_5'"):
        spec.parse_code_name("continuous_5")
    with pytest.raises(ValueError, match="no continuous codes"):
        LatentSpec(continuous_codes=0).prepare(1, continuous=[0.0])


def test_a_fixed_continuous_variance_drops_the_log_variance_outputs():
    spec = LatentSpec(noise_dim=2, categorical_codes=(3,), continuous_codes=2, continuous_variance="fixed")
    assert spec.q_output_dim == 3 + 2
    q = spec.split_q_output(torch.arange(5, dtype=torch.float32).unsqueeze(0))
    assert q.continuous_mean.tolist() == [[3.0, 4.0]] and q.continuous_log_variance.tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match=r"continuous_variance must be one of \('learned', 'fixed'\)"):
        LatentSpec(continuous_variance="free")


def test_sampling_from_given_class_probabilities_gives_those_frequencies(spec):
    skewed = torch.tensor([0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01])
    latents = spec.sample(10_000, generator=torch.Generator().manual_seed(0), categorical_probabilities=[skewed, torch.tensor([0.0, 0.5, 0.5])])
    frequencies = torch.bincount(latents.categorical[:, 0], minlength=10) / 10_000
    assert torch.allclose(frequencies, skewed, atol=0.015)  # about 3 standard errors of the largest class
    assert not (latents.categorical[:, 1] == 0).any()  # a zero-probability category is never drawn
    assert spec.categorical_entropy([skewed, torch.tensor([0.0, 0.5, 0.5])]) == pytest.approx(
        [-(skewed * skewed.log()).sum().item(), math.log(2)], abs=1e-6
    )
    # the uniform prior's sampling is unchanged by the new argument's existence
    assert torch.equal(spec.sample(64, generator=torch.Generator().manual_seed(1)).categorical,
                       spec.sample(64, generator=torch.Generator().manual_seed(1), categorical_probabilities=None).categorical)  # fmt: skip


@pytest.mark.parametrize(
    "prior, message",
    [
        ([torch.full((10,), 0.1)], r"for 2 categorical code\(s\), got 1"),
        ([torch.full((9,), 1 / 9), torch.full((3,), 1 / 3)], r"categorical_0's prior must be a 1-D tensor of its 10 class probabilities, got shape \(9,\)"),
        ([torch.tensor([-0.1, 0.3] + [0.1] * 8), torch.full((3,), 1 / 3)], "negative probabilities"),
        ([torch.full((10,), float("nan")), torch.full((3,), 1 / 3)], "NaN or infinite"),
        ([torch.full((10,), 0.1), torch.full((3,), 0.5)], r"categorical_1's prior must sum to 1 \(within 0.0001\), sums to 1.500000"),
    ],
)
def test_bad_class_probabilities_get_clear_errors(spec, prior, message):
    with pytest.raises(ValueError, match=message):
        spec.sample(4, categorical_probabilities=prior)


def test_relaxed_samples_are_near_one_hot_follow_the_prior_and_pass_gradients(spec):
    learned = LatentSpec(noise_dim=5, categorical_codes=(10, 3), continuous_codes=2, categorical_prior="learned")
    logits = torch.log(torch.tensor([0.5] + [0.5 / 9] * 9 + [0.2, 0.3, 0.5])).requires_grad_()
    categories, one_hot = learned.sample_relaxed_categorical(logits, 4000, temperature=0.1, generator=torch.Generator().manual_seed(0))
    assert categories.shape == (4000, 2) and one_hot.shape == (4000, 13)
    assert torch.allclose(one_hot[:, :10].sum(dim=1), torch.ones(4000)) and torch.equal(one_hot[:, 10:].argmax(dim=1), categories[:, 1])
    assert one_hot[:, :10].max(dim=1).values.median() > 0.99  # nearly one-hot at temperature 0.1
    assert (categories[:, 0] == 0).float().mean().item() == pytest.approx(0.5, abs=0.03)
    (one_hot[:, 0] * 1.0).sum().backward()  # asking for more of category 0 raises its logit
    assert logits.grad[0] > 0 and (logits.grad[1:10] < 0).all()
    with pytest.raises(ValueError, match="temperature must be positive"):
        learned.sample_relaxed_categorical(logits, 4, temperature=0)
    with pytest.raises(ValueError, match=r"prior_logits must have shape \(13,\)"):
        learned.sample_relaxed_categorical(torch.zeros(10), 4, temperature=0.1)


def test_the_generator_input_takes_relaxed_one_hots_when_given(spec):
    latents = spec.sample(3, generator=torch.Generator().manual_seed(0))
    soft = torch.rand(3, 13)
    latents.categorical_one_hot = soft
    assert torch.equal(spec.generator_input(latents)[:, 5:18], soft)
