"""InfoGAN's generator and its discriminator with the Q head, as diffusers models.

The architectures follow the paper's appendix (Table 1 for MNIST): the generator maps the latent
input through a fully connected layer and transposed convolutions up to the image; the
discriminator mirrors it, and the Q head shares its whole trunk and adds one hidden layer.
Both take the latent specification's fields in their config, so `from_pretrained` restores it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from .latent import LatentBatch, LatentSpec, QOutput

IMAGE_SIZES = (28, 32, 64)


def _feature_map_plan(image_size: int, channels: int, base_channels: int) -> tuple[int, list[int]]:
    """Checks the image shape; returns the smallest feature map's side and the channel widths
    from smallest to largest map.

    28x28 images start from 7x7 (two doublings, as in the paper's MNIST networks); 32x32 and
    64x64 images start from 4x4.
    """
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    initial_size = 7 if image_size == 28 else 4
    doublings = int(math.log2(image_size // initial_size))
    widths = [base_channels * 2 ** (doublings - 1 - level) for level in range(doublings)]
    return initial_size, widths


class InfoGANGenerator(ModelMixin, ConfigMixin):
    r"""The generator G(z, c): latent input to an image in [-1, 1].

    Args:
        noise_dim (`int`, defaults to 62), categorical_codes (`Sequence[int]`, defaults to `(10,)`),
        continuous_codes (`int`, defaults to 2), noise_prior (`str`, defaults to `"uniform"`),
        continuous_prior (`str`, defaults to `"uniform"`), continuous_variance (`str`, defaults to
            `"learned"`), categorical_prior (`str`, defaults to `"uniform"`): the latent
            specification, see [`LatentSpec`]. With a `"learned"` categorical prior the generator
            holds its logits, `categorical_prior_logits` (starting uniform), saved with its weights.
        image_size (`int`, defaults to 28): 28, 32 or 64.
        channels (`int`, defaults to 1): 1 (grayscale) or 3 (RGB).
        hidden_dim (`int`, defaults to 1024): width of the first fully connected layer; 0 leaves it out.
        base_channels (`int`, defaults to 64): channels of the last transposed convolution before
            the image; each smaller feature map has twice as many.
    """

    @register_to_config
    def __init__(
        self,
        noise_dim: int = 62,
        categorical_codes: Sequence[int] = (10,),
        continuous_codes: int = 2,
        noise_prior: str = "uniform",
        continuous_prior: str = "uniform",
        continuous_variance: str = "learned",
        image_size: int = 28,
        channels: int = 1,
        hidden_dim: int = 1024,
        base_channels: int = 64,
        categorical_prior: str = "uniform",
    ):
        super().__init__()
        self.latent_spec = LatentSpec.from_config(self.config)
        initial_size, widths = _feature_map_plan(image_size, channels, base_channels)
        self.initial_shape = (widths[0], initial_size, initial_size)
        if self.latent_spec.categorical_prior == "learned":
            self.categorical_prior_logits = nn.Parameter(torch.zeros(sum(self.latent_spec.categorical_codes)))

        layers: list[nn.Module] = []
        features = self.latent_spec.input_dim
        if hidden_dim:
            layers += [nn.Linear(features, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(True)]
            features = hidden_dim
        layers += [
            nn.Linear(features, widths[0] * initial_size**2),
            nn.BatchNorm1d(widths[0] * initial_size**2),
            nn.ReLU(True),
            nn.Unflatten(1, self.initial_shape),
        ]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(width_in, width_out, 4, 2, 1), nn.BatchNorm2d(width_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, latent_input: torch.Tensor) -> torch.Tensor:
        """Maps `(batch_size, input_dim)` latent input (see [`LatentSpec.generator_input`]) to images."""
        return self.layers(latent_input)

    def generate(self, latents: LatentBatch) -> torch.Tensor:
        """Images for a [`LatentBatch`], in [-1, 1]."""
        return self(self.latent_spec.generator_input(latents).to(self.dtype))

    def categorical_prior(self) -> list[torch.Tensor]:
        """The categorical codes' class probabilities, one 1-D float32 tensor per code: the learned
        ones (differentiable in `categorical_prior_logits`), or the uniform ones."""
        if self.latent_spec.categorical_prior != "learned":
            return [p.float().to(self.device) for p in self.latent_spec.uniform_categorical_probabilities()]
        return [logits.float().softmax(dim=0) for logits in self.categorical_prior_logits.split(self.latent_spec.categorical_codes)]


@dataclass
class DiscriminatorOutput(BaseOutput):
    """
    Args:
        logits (`torch.Tensor` of shape `(batch_size,)`): real/fake logits (real is positive).
        q_output (`torch.Tensor` of shape `(batch_size, q_output_dim)`): the Q head's raw output;
            split it with [`LatentSpec.split_q_output`].
        q_features (`torch.Tensor` of shape `(batch_size, q_hidden_dim)`): the Q head's hidden layer,
            from which `q_output` is read (what a contrastive consistency term compares).
        overclustering_logits (`torch.Tensor` of shape `(batch_size, q_overclustering_categories)`, *optional*):
            the overclustering head's logits, read from `q_features`; `None` without that head.
    """

    logits: torch.Tensor
    q_output: torch.Tensor
    q_features: torch.Tensor
    overclustering_logits: torch.Tensor | None = None


class InfoGANDiscriminator(ModelMixin, ConfigMixin):
    r"""The discriminator D(x) with the auxiliary head Q(c|x) sharing its convolutional trunk.

    Args:
        noise_dim, categorical_codes, continuous_codes, noise_prior, continuous_prior,
        continuous_variance, categorical_prior: the latent specification, see [`LatentSpec`]; it
            sizes the Q head (the learned prior's probabilities live in the generator).
        image_size (`int`, defaults to 28): 28, 32 or 64.
        channels (`int`, defaults to 1): 1 or 3.
        hidden_dim (`int`, defaults to 1024): width of the shared fully connected layer; 0 leaves it out.
        base_channels (`int`, defaults to 64): channels of the first convolution; each following
            one has twice as many.
        q_hidden_dim (`int`, defaults to 128): width of the Q head's hidden layer.
        leaky_relu_slope (`float`, defaults to 0.1): slope of the leaky ReLUs, as in the paper.
        spectral_norm (`bool`, defaults to `False`): spectral normalisation (Miyato et al. 2018) on the
            trunk's and the real/fake head's layers instead of BatchNorm, as InfoGAN-CR's
            discriminator; Q's head keeps its BatchNorm.
        q_overclustering_categories (`int`, defaults to 0): categories of a second head on Q's hidden
            layer, trained only by a consistency term on real images, with more categories than the
            data has classes (IIC's overclustering head, Ji et al. 2019); it shapes the features Q's
            codes are read from and is never sampled. 0 leaves it out.
    """

    @register_to_config
    def __init__(
        self,
        noise_dim: int = 62,
        categorical_codes: Sequence[int] = (10,),
        continuous_codes: int = 2,
        noise_prior: str = "uniform",
        continuous_prior: str = "uniform",
        continuous_variance: str = "learned",
        image_size: int = 28,
        channels: int = 1,
        hidden_dim: int = 1024,
        base_channels: int = 64,
        q_hidden_dim: int = 128,
        leaky_relu_slope: float = 0.1,
        categorical_prior: str = "uniform",
        spectral_norm: bool = False,
        q_overclustering_categories: int = 0,
    ):
        super().__init__()
        if q_overclustering_categories < 0 or q_overclustering_categories == 1:
            raise ValueError(f"q_overclustering_categories must be 0 (no overclustering head) or at least 2, got {q_overclustering_categories}.")
        self.latent_spec = LatentSpec.from_config(self.config)
        initial_size, widths = _feature_map_plan(image_size, channels, base_channels)
        widths = widths[::-1]  # the discriminator narrows the image as the generator widened it
        normalised = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)

        def normalisation(kind: type, width: int) -> list[nn.Module]:
            return [] if spectral_norm else [kind(width)]

        layers: list[nn.Module] = [normalised(nn.Conv2d(channels, widths[0], 4, 2, 1)), nn.LeakyReLU(leaky_relu_slope, True)]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [normalised(nn.Conv2d(width_in, width_out, 4, 2, 1)), *normalisation(nn.BatchNorm2d, width_out), nn.LeakyReLU(leaky_relu_slope, True)]
        layers.append(nn.Flatten())
        features = widths[-1] * initial_size**2
        if hidden_dim:
            layers += [normalised(nn.Linear(features, hidden_dim)), *normalisation(nn.BatchNorm1d, hidden_dim), nn.LeakyReLU(leaky_relu_slope, True)]
            features = hidden_dim
        self.trunk = nn.Sequential(*layers)
        self.real_fake_head = normalised(nn.Linear(features, 1))
        self.q_head = nn.Sequential(
            nn.Linear(features, q_hidden_dim),
            nn.BatchNorm1d(q_hidden_dim),
            nn.LeakyReLU(leaky_relu_slope, True),
            nn.Linear(q_hidden_dim, self.latent_spec.q_output_dim),
        )
        self.q_overclustering_head = nn.Linear(q_hidden_dim, q_overclustering_categories) if q_overclustering_categories else None

    def forward(self, images: torch.Tensor, return_dict: bool = True) -> DiscriminatorOutput | tuple:
        """Real/fake logits and Q's raw output for `(batch_size, channels, image_size, image_size)` images in [-1, 1]."""
        expected = (self.config.channels, self.config.image_size, self.config.image_size)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(f"Images must have shape (batch_size, {', '.join(map(str, expected))}), got {tuple(images.shape)}.")
        features = self.trunk(images)
        q_features = self.q_head[:-1](features)
        overclustering_logits = self.q_overclustering_head(q_features) if self.q_overclustering_head is not None else None
        output = DiscriminatorOutput(self.real_fake_head(features).squeeze(1), self.q_head[-1](q_features), q_features, overclustering_logits)
        return output if return_dict else output.to_tuple()

    def infer_codes(self, images: torch.Tensor) -> QOutput:
        """Q(c|x) split by code: categorical logits, continuous means and log-variances."""
        return self.latent_spec.split_q_output(self(images).q_output)
