"""The latent specification of an InfoGAN: the one place that knows which codes exist.

The generator's input size, the Q head's outputs, the losses, the pipeline's arguments, the
model card's table and the app's controls are all derived from a :class:`LatentSpec`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import torch

NOISE_PRIORS = ("uniform", "normal")
CONTINUOUS_PRIORS = ("uniform", "normal")
CONTINUOUS_VARIANCES = ("learned", "fixed")
CATEGORICAL_PRIORS = ("uniform", "learned")
# How far a given prior's probabilities may sum from 1 (float32 softmax outputs land within 1e-6).
PROBABILITY_SUM_TOLERANCE = 1e-4
# The range the paper samples continuous codes from; traversals go beyond it (Figure 2).
TRAINED_CONTINUOUS_RANGE = (-1.0, 1.0)
TRAVERSAL_CONTINUOUS_RANGE = (-2.0, 2.0)

CodeValues = Union[None, int, float, Sequence[Any], torch.Tensor]


@dataclass
class LatentBatch:
    """A batch of generator inputs, before they are concatenated.

    Attributes:
        noise (`torch.Tensor` of shape `(batch_size, noise_dim)`): the incompressible noise z.
        categorical (`torch.LongTensor` of shape `(batch_size, num_categorical_codes)`): the
            category chosen for each categorical code.
        continuous (`torch.Tensor` of shape `(batch_size, num_continuous_codes)`): the value of
            each continuous code.
        categorical_one_hot (`torch.Tensor` of shape `(batch_size, sum(categorical_codes))`, *optional*):
            relaxed (Gumbel-softmax) one-hot vectors that the generator takes instead of the exact
            one-hots of `categorical`, so that gradients reach a learned prior; `categorical`
            then holds their argmax.
    """

    noise: torch.Tensor
    categorical: torch.Tensor
    continuous: torch.Tensor
    categorical_one_hot: Optional[torch.Tensor] = None

    def to(self, device: torch.device | str) -> "LatentBatch":
        one_hot = None if self.categorical_one_hot is None else self.categorical_one_hot.to(device)
        return LatentBatch(self.noise.to(device), self.categorical.to(device), self.continuous.to(device), one_hot)


@dataclass
class QOutput:
    """The Q head's output split by code.

    Attributes:
        categorical_logits (`list[torch.Tensor]`): one `(batch_size, num_categories)` tensor per
            categorical code.
        continuous_mean (`torch.Tensor` of shape `(batch_size, num_continuous_codes)`).
        continuous_log_variance (`torch.Tensor` of shape `(batch_size, num_continuous_codes)`): the
            factored Gaussian's log-variance (paper, section 5); zeros when the variance is fixed.
    """

    categorical_logits: list[torch.Tensor]
    continuous_mean: torch.Tensor
    continuous_log_variance: torch.Tensor


@dataclass(frozen=True)
class LatentSpec:
    """Which latent codes an InfoGAN has, and their priors.

    Args:
        noise_dim (`int`, defaults to 62): size of the noise vector z.
        categorical_codes (`tuple[int, ...]`, defaults to `(10,)`): number of categories of each
            categorical code.
        continuous_codes (`int`, defaults to 2): number of continuous codes.
        noise_prior (`str`, defaults to `"uniform"`): `"uniform"` (on [-1, 1]) or `"normal"`.
        continuous_prior (`str`, defaults to `"uniform"`): `"uniform"` (on [-1, 1], as in the
            paper) or `"normal"` (standard normal).
        continuous_variance (`str`, defaults to `"learned"`): whether Q's factored Gaussian for the
            continuous codes has a `"learned"` log-variance or a `"fixed"` unit variance (as the
            paper's MNIST experiment). With a learned variance the information reward is
            unbounded, which can lead continuous codes to take over what a categorical code should
            capture; a fixed variance bounds it.
        categorical_prior (`str`, defaults to `"uniform"`): the categorical codes' prior: `"uniform"`
            (as in the paper) or `"learned"`, class probabilities trained with the generator
            (Elastic-InfoGAN, Ojha et al. 2020) for data whose classes are imbalanced. The
            probabilities themselves are the generator's parameters; the spec only says they exist.
    """

    noise_dim: int = 62
    categorical_codes: tuple[int, ...] = (10,)
    continuous_codes: int = 2
    noise_prior: str = "uniform"
    continuous_prior: str = "uniform"
    continuous_variance: str = "learned"
    categorical_prior: str = "uniform"

    def __post_init__(self):
        # Configs round-trip through JSON, which turns tuples into lists.
        object.__setattr__(self, "categorical_codes", tuple(self.categorical_codes))
        if not isinstance(self.noise_dim, int) or self.noise_dim < 0:
            raise ValueError(f"noise_dim must be a non-negative integer, got {self.noise_dim!r}.")
        for size in self.categorical_codes:
            if not isinstance(size, int) or size < 2:
                raise ValueError(
                    f"Each categorical code needs an integer number of categories of at least 2, "
                    f"got categorical_codes={self.categorical_codes!r}."
                )
        if not isinstance(self.continuous_codes, int) or self.continuous_codes < 0:
            raise ValueError(f"continuous_codes must be a non-negative integer, got {self.continuous_codes!r}.")
        if self.noise_prior not in NOISE_PRIORS:
            raise ValueError(f"noise_prior must be one of {NOISE_PRIORS}, got {self.noise_prior!r}.")
        if self.continuous_prior not in CONTINUOUS_PRIORS:
            raise ValueError(f"continuous_prior must be one of {CONTINUOUS_PRIORS}, got {self.continuous_prior!r}.")
        if self.continuous_variance not in CONTINUOUS_VARIANCES:
            raise ValueError(f"continuous_variance must be one of {CONTINUOUS_VARIANCES}, got {self.continuous_variance!r}.")
        if self.categorical_prior not in CATEGORICAL_PRIORS:
            raise ValueError(f"categorical_prior must be one of {CATEGORICAL_PRIORS}, got {self.categorical_prior!r}.")
        if self.input_dim == 0:
            raise ValueError("A latent specification needs at least one input dimension.")

    # --- sizes -------------------------------------------------------------------------------
    @property
    def num_categorical_codes(self) -> int:
        return len(self.categorical_codes)

    @property
    def input_dim(self) -> int:
        """Size of the generator's input: noise, one-hot categorical codes, continuous codes."""
        return self.noise_dim + sum(self.categorical_codes) + self.continuous_codes

    @property
    def q_output_dim(self) -> int:
        """Size of the Q head's output: logits per category, a mean per continuous code, and a
        log-variance per continuous code when it is learned."""
        per_continuous_code = 2 if self.continuous_variance == "learned" else 1
        return sum(self.categorical_codes) + per_continuous_code * self.continuous_codes

    @property
    def code_names(self) -> list[str]:
        """Names of the codes, in order: `categorical_0`, ..., `continuous_0`, ..."""
        return [f"categorical_{i}" for i in range(self.num_categorical_codes)] + [
            f"continuous_{j}" for j in range(self.continuous_codes)
        ]

    def parse_code_name(self, name: str) -> tuple[str, int]:
        """Turns `"categorical_0"` into `("categorical", 0)`, with a clear error for unknown names."""
        if name not in self.code_names:
            raise ValueError(f"Unknown code {name!r}; this model's codes are {self.code_names}.")
        kind, index = name.rsplit("_", 1)
        return kind, int(index)

    # --- information ---------------------------------------------------------------------------
    def categorical_entropy(self, probabilities: Optional[Sequence[torch.Tensor]] = None) -> list[float]:
        """H(c) in nats for each categorical code: ln K for a uniform prior over K categories, or
        the entropy of the given class `probabilities` (one 1-D tensor per code)."""
        if probabilities is None:
            return [math.log(size) for size in self.categorical_codes]
        probabilities = self.check_categorical_probabilities(probabilities)
        return [-(p * p.clamp_min(1e-30).log()).sum().item() for p in probabilities]

    def uniform_categorical_probabilities(self) -> list[torch.Tensor]:
        """The uniform prior's class probabilities, one 1-D tensor per categorical code."""
        return [torch.full((size,), 1.0 / size) for size in self.categorical_codes]

    def check_categorical_probabilities(self, probabilities: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Checks class probabilities for the categorical codes (one 1-D tensor per code, each with
        that code's number of categories, finite, non-negative, summing to 1); returns them as
        float64 tensors."""
        probabilities = list(probabilities)
        if len(probabilities) != self.num_categorical_codes:
            raise ValueError(
                f"Expected class probabilities for {self.num_categorical_codes} categorical code(s), got {len(probabilities)}."
            )
        checked = []
        for index, (values, size) in enumerate(zip(probabilities, self.categorical_codes)):
            values = torch.as_tensor(values).detach().to("cpu", torch.float64)
            name = f"categorical_{index}'s prior"
            if values.shape != (size,):
                raise ValueError(f"{name} must be a 1-D tensor of its {size} class probabilities, got shape {tuple(values.shape)}.")
            if not torch.isfinite(values).all():
                raise ValueError(f"{name} contains NaN or infinite values: {values.tolist()}.")
            if (values < 0).any():
                raise ValueError(f"{name} has negative probabilities: {values.tolist()}.")
            if abs(values.sum().item() - 1) > PROBABILITY_SUM_TOLERANCE:
                raise ValueError(f"{name} must sum to 1 (within {PROBABILITY_SUM_TOLERANCE}), sums to {values.sum().item():.6f}.")
            checked.append(values)
        return checked

    def continuous_entropy(self) -> float:
        """Differential entropy in nats of one continuous code under its prior."""
        if self.continuous_prior == "uniform":
            return math.log(TRAINED_CONTINUOUS_RANGE[1] - TRAINED_CONTINUOUS_RANGE[0])
        return 0.5 * math.log(2 * math.pi * math.e)

    # --- serialisation -------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """The fields as plain data, to be passed as keyword arguments to the models' configs."""
        config = dataclasses.asdict(self)
        config["categorical_codes"] = list(self.categorical_codes)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LatentSpec":
        """Builds a spec from any mapping holding its fields (a model config, a preset); other keys are ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in config.items() if key in names})

    # --- sampling ------------------------------------------------------------------------------
    def sample(
        self,
        batch_size: int,
        generator: Optional[torch.Generator] = None,
        device: torch.device | str = "cpu",
        categorical_probabilities: Optional[Sequence[torch.Tensor]] = None,
    ) -> LatentBatch:
        """Samples every part of the latent input from its prior (for the categories: uniform, or
        the given class probabilities, one 1-D tensor per code)."""
        return self.prepare(batch_size, generator=generator, device=device, categorical_probabilities=categorical_probabilities)

    def sample_relaxed_categorical(
        self, prior_logits: torch.Tensor, batch_size: int, temperature: float, generator: Optional[torch.Generator] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-softmax samples of the categorical codes from a learned prior, differentiable in
        its logits (Jang et al. 2017; Elastic-InfoGAN samples its learned prior this way).

        Args:
            prior_logits (`torch.Tensor` of shape `(sum(categorical_codes),)`): the prior's logits,
                code after code.
            batch_size (`int`): number of samples.
            temperature (`float`): the relaxation's temperature; near 0 the samples are almost one-hot.
            generator (`torch.Generator`, *optional*): for the Gumbel noise.

        Returns:
            `(categories, one_hot)`: the sampled categories, `(batch_size, num_categorical_codes)`,
            and the relaxed one-hot vectors, `(batch_size, sum(categorical_codes))`.
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        if prior_logits.shape != (sum(self.categorical_codes),):
            raise ValueError(f"prior_logits must have shape ({sum(self.categorical_codes)},), got {tuple(prior_logits.shape)}.")
        uniform = torch.rand(batch_size, prior_logits.shape[0], generator=generator, device=_generator_device(generator, prior_logits.device))
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1 - 1e-7))).to(prior_logits.device, prior_logits.dtype)
        relaxed = [
            ((logits + noise) / temperature).softmax(dim=1)
            for logits, noise in zip(prior_logits.split(self.categorical_codes), gumbel.split(self.categorical_codes, dim=1))
        ]
        return torch.stack([one_hot.argmax(dim=1) for one_hot in relaxed], dim=1), torch.cat(relaxed, dim=1)

    def sample_noise(self, batch_size: int, generator: Optional[torch.Generator] = None, device="cpu") -> torch.Tensor:
        return _sample_prior(self.noise_prior, (batch_size, self.noise_dim), generator, device)

    def prepare(
        self,
        batch_size: int,
        noise: Optional[torch.Tensor] = None,
        categorical: CodeValues = None,
        continuous: CodeValues = None,
        generator: Optional[torch.Generator] = None,
        device: torch.device | str = "cpu",
        categorical_probabilities: Optional[Sequence[torch.Tensor]] = None,
    ) -> LatentBatch:
        """Validates the codes a user gave and samples the rest from their priors.

        Args:
            batch_size (`int`): number of samples.
            noise (`torch.Tensor` of shape `(batch_size, noise_dim)`, *optional*): sampled when left out.
            categorical (*optional*): one value per categorical code (a list, with `None` for a code
                to sample, or an `int` when there is a single code) applied to the whole batch, or a
                tensor of shape `(batch_size, num_categorical_codes)`.
            continuous (*optional*): the same for the continuous codes, with float values. Values
                outside the trained range are allowed.
            generator (`torch.Generator`, *optional*): makes sampling deterministic. Everything is
                sampled in a fixed order (noise, categorical, continuous) whether or not a part is
                given, so fixing one code leaves the others' samples unchanged.
            device: where the tensors are made.
            categorical_probabilities (`list[torch.Tensor]`, *optional*): class probabilities to
                sample the categorical codes from, one 1-D tensor per code (a learned prior, see
                [`InfoGANGenerator.categorical_prior`]); uniform when left out.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        sampled_noise = self.sample_noise(batch_size, generator, device)
        sampled_categorical = self._sample_categories(batch_size, categorical_probabilities, generator, device)
        sampled_continuous = _sample_prior(self.continuous_prior, (batch_size, self.continuous_codes), generator, device)

        if noise is not None:
            noise = torch.as_tensor(noise, dtype=torch.float32)
            if noise.shape != (batch_size, self.noise_dim):
                raise ValueError(
                    f"noise must have shape (batch_size, noise_dim) = ({batch_size}, {self.noise_dim}), "
                    f"got {tuple(noise.shape)}."
                )
            _check_finite("noise", noise)
            sampled_noise = noise.to(device)
        categorical_values = self._merge("categorical", categorical, sampled_categorical, batch_size)
        continuous_values = self._merge("continuous", continuous, sampled_continuous, batch_size)
        return LatentBatch(sampled_noise, categorical_values.long(), continuous_values.float())

    def _sample_categories(
        self, batch_size: int, probabilities: Optional[Sequence[torch.Tensor]], generator: Optional[torch.Generator], device
    ) -> torch.Tensor:
        if not self.categorical_codes:
            return torch.zeros(batch_size, 0, dtype=torch.long, device=device)
        sample_device = _generator_device(generator, device)
        if probabilities is None:
            columns = [torch.randint(size, (batch_size,), generator=generator, device=sample_device) for size in self.categorical_codes]
        else:
            columns = [
                torch.multinomial(p.to(sample_device), batch_size, replacement=True, generator=generator)
                for p in self.check_categorical_probabilities(probabilities)
            ]
        return torch.stack(columns, dim=1).to(device)

    def _merge(self, kind: str, given: CodeValues, sampled: torch.Tensor, batch_size: int) -> torch.Tensor:
        count = sampled.shape[1]
        if given is None:
            return sampled
        if count == 0:
            raise ValueError(f"This model has no {kind} codes, but {kind} values were given.")
        if isinstance(given, (int, float)) and not isinstance(given, bool):
            given = [given]
        if isinstance(given, torch.Tensor) and given.dim() == 2:
            if given.shape != (batch_size, count):
                raise ValueError(
                    f"A {kind} tensor must have shape (batch_size, {count}) = ({batch_size}, {count}), "
                    f"got {tuple(given.shape)}."
                )
            values, given_mask = given.to(sampled.device, torch.float64), torch.ones_like(sampled, dtype=torch.bool)
            _check_finite(kind, values)
        else:
            items = given.tolist() if isinstance(given, torch.Tensor) else list(given)
            if len(items) != count:
                raise ValueError(
                    f"Expected {count} {kind} value(s), one per code ({', '.join(n for n in self.code_names if n.startswith(kind))}), "
                    f"got {len(items)}: {items!r}. Use None for a code to sample."
                )
            values, given_mask = sampled.to(torch.float64), torch.zeros_like(sampled, dtype=torch.bool)
            for index, item in enumerate(items):
                if item is None:
                    continue
                if not isinstance(item, (int, float)) or isinstance(item, bool):
                    raise ValueError(f"{kind}_{index} must be a number or None, got {item!r}.")
                if math.isnan(item) or math.isinf(item):
                    raise ValueError(f"{kind}_{index} must be finite, got {item!r}.")
                values[:, index] = item
                given_mask[:, index] = True
        if kind == "categorical":
            self._check_categories(values, given_mask)
        return torch.where(given_mask, values, sampled.to(torch.float64)).to(sampled.dtype)

    def _check_categories(self, values: torch.Tensor, given_mask: torch.Tensor) -> None:
        if not torch.all(values[given_mask] == values[given_mask].round()):
            raise ValueError(f"Categorical values must be whole numbers, got {values[given_mask].unique().tolist()}.")
        for index, size in enumerate(self.categorical_codes):
            chosen = values[:, index][given_mask[:, index]]
            if chosen.numel() and (chosen.min() < 0 or chosen.max() >= size):
                raise ValueError(
                    f"categorical_{index} has {size} categories, so its values must lie in 0..{size - 1}; "
                    f"got {sorted(set(chosen.long().tolist()))}."
                )

    # --- generator input and Q output -----------------------------------------------------------
    def generator_input(self, latents: LatentBatch) -> torch.Tensor:
        """Concatenates noise, one-hot categorical codes (or the batch's relaxed ones) and continuous
        codes: `(batch_size, input_dim)`."""
        if latents.categorical_one_hot is not None:
            one_hots = [latents.categorical_one_hot.to(latents.noise.dtype)]
        else:
            one_hots = [
                torch.nn.functional.one_hot(latents.categorical[:, index], size).to(latents.noise.dtype)
                for index, size in enumerate(self.categorical_codes)
            ]
        return torch.cat([latents.noise, *one_hots, latents.continuous.to(latents.noise.dtype)], dim=1)

    def split_q_output(self, q_output: torch.Tensor) -> QOutput:
        """Splits the Q head's `(batch_size, q_output_dim)` output into its per-code parts."""
        if q_output.shape[-1] != self.q_output_dim:
            raise ValueError(f"Q output has {q_output.shape[-1]} features, the spec needs {self.q_output_dim}.")
        if self.continuous_variance == "learned":
            *logits, mean, log_variance = torch.split(q_output, [*self.categorical_codes, self.continuous_codes, self.continuous_codes], dim=-1)
        else:
            *logits, mean = torch.split(q_output, [*self.categorical_codes, self.continuous_codes], dim=-1)
            log_variance = torch.zeros_like(mean)
        return QOutput(list(logits), mean, log_variance)


def _generator_device(generator: Optional[torch.Generator], device) -> torch.device:
    # Random numbers come from the generator's device, so a CPU generator gives the same
    # samples whatever device the model runs on.
    return generator.device if generator is not None else torch.device(device)


def _sample_prior(prior: str, shape: tuple[int, int], generator: Optional[torch.Generator], device) -> torch.Tensor:
    sample_device = _generator_device(generator, device)
    if prior == "uniform":
        values = torch.rand(shape, generator=generator, device=sample_device) * 2 - 1
    else:
        values = torch.randn(shape, generator=generator, device=sample_device)
    return values.to(device)


def _check_finite(name: str, values: torch.Tensor) -> None:
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
