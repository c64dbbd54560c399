"""InfoGANPipeline: sample, traverse and encode with a trained InfoGAN, the diffusers way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import PIL.Image
import torch
import torchvision
from diffusers import DiffusionPipeline
from diffusers.image_processor import PipelineImageInput, VaeImageProcessor
from diffusers.utils import BaseOutput

from .latent import TRAVERSAL_CONTINUOUS_RANGE, CodeValues, LatentBatch, LatentSpec
from .models import InfoGANDiscriminator, InfoGANGenerator

OUTPUT_TYPES = ("pil", "np", "pt")
# One call may not ask for more images than this: it bounds memory on a shared machine.
MAX_TRAVERSAL_STEPS = 64


@dataclass
class InfoGANPipelineOutput(BaseOutput):
    """
    Args:
        images (`list[PIL.Image.Image]`, `np.ndarray` or `torch.Tensor`): the generated images, in
            [0, 1] for `"np"` (`(batch, height, width, channels)`) and `"pt"` (`(batch, channels, height, width)`).
        latents ([`LatentBatch`]): the noise and codes the images were generated from.
    """

    images: Union[list[PIL.Image.Image], np.ndarray, torch.Tensor]
    latents: LatentBatch


@dataclass
class InfoGANTraversalOutput(BaseOutput):
    """
    Args:
        images: the traversal's images, row by row (`num_rows * num_columns` of them), as for
            [`InfoGANPipelineOutput`].
        grid (`PIL.Image.Image`): all images in one picture, `num_rows` by `num_columns`.
        column_values (`list[float]`): the varied code's value in each column.
        row_values (`list[float]` or `None`): the second code's value in each row, when one is varied.
    """

    images: Union[list[PIL.Image.Image], np.ndarray, torch.Tensor]
    grid: PIL.Image.Image
    column_values: list[float]
    row_values: Optional[list[float]]


@dataclass
class InfoGANEncodeOutput(BaseOutput):
    """What Q(c|x) infers from images.

    Args:
        categorical_probabilities (`list[torch.Tensor]`): one `(batch, num_categories)` tensor per
            categorical code; each row sums to 1.
        categorical (`torch.LongTensor` of shape `(batch, num_categorical_codes)`): the most likely category.
        continuous (`torch.Tensor` of shape `(batch, num_continuous_codes)`): Q's mean for each continuous code.
        continuous_log_variance (`torch.Tensor`): Q's log-variance for each continuous code.
    """

    categorical_probabilities: list[torch.Tensor]
    categorical: torch.Tensor
    continuous: torch.Tensor
    continuous_log_variance: torch.Tensor


class InfoGANPipeline(DiffusionPipeline):
    r"""Generates images from an InfoGAN with control over every latent code.

    Loading needs `import infogan_hub` first: it makes the class known to diffusers, so that
    `DiffusionPipeline.from_pretrained` finds it too.

    Args:
        image_generator ([`InfoGANGenerator`]): the generator G(z, c). (Named so that it is never
            confused with the `generator` argument for random numbers.)
        discriminator ([`InfoGANDiscriminator`], *optional*): the discriminator with the Q head;
            needed only by [`~InfoGANPipeline.encode`].
    """

    model_cpu_offload_seq = "image_generator"
    _optional_components = ["discriminator"]

    def __init__(self, image_generator: InfoGANGenerator, discriminator: Optional[InfoGANDiscriminator] = None):
        super().__init__()
        # Compared as read from the configs, so that components whose classes come from another
        # copy of this code (diffusers' remote code) still match.
        generator_spec = LatentSpec.from_config(image_generator.config)
        if discriminator is not None and LatentSpec.from_config(discriminator.config) != generator_spec:
            raise ValueError(
                "The discriminator's latent specification differs from the generator's: "
                f"{LatentSpec.from_config(discriminator.config)} != {generator_spec}."
            )
        self.register_modules(image_generator=image_generator, discriminator=discriminator)
        channels = image_generator.config.channels
        self.image_processor = VaeImageProcessor(
            vae_scale_factor=1, do_normalize=True, do_convert_grayscale=channels == 1, do_convert_rgb=channels == 3
        )

    @property
    def latent_spec(self) -> LatentSpec:
        return self.image_generator.latent_spec

    @torch.no_grad()
    def categorical_prior(self) -> list[torch.Tensor]:
        """The class probabilities each categorical code is sampled from: one 1-D tensor per code,
        summing to 1; learned ones for a model trained with `categorical_prior="learned"`, else uniform."""
        return [p.detach().cpu() for p in self.image_generator.categorical_prior()]

    def _sampling_prior(self) -> Optional[list[torch.Tensor]]:
        # None keeps the uniform prior's sampling exactly as it was (torch.randint), seed for seed.
        return self.categorical_prior() if self.latent_spec.categorical_prior == "learned" else None

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        categorical: CodeValues = None,
        continuous: CodeValues = None,
        noise: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> InfoGANPipelineOutput | tuple:
        r"""
        Args:
            batch_size (`int`, defaults to 1): number of images.
            categorical (*optional*): categorical codes: one value per code for the whole batch (a
                list with `None` for codes to sample; an `int` when there is a single code), or a
                `(batch_size, num_categorical_codes)` tensor. Left out: sampled from the model's
                prior (see [`~InfoGANPipeline.categorical_prior`]).
            continuous (*optional*): continuous codes, given like `categorical` with float values.
                Values beyond the trained range [-1, 1] are allowed.
            noise (`torch.Tensor` of shape `(batch_size, noise_dim)`, *optional*): the noise z.
            generator (`torch.Generator`, *optional*): makes sampling deterministic.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"` or `"pt"`.
            return_dict (`bool`, defaults to `True`): return an [`InfoGANPipelineOutput`] rather than a tuple.

        Returns:
            [`InfoGANPipelineOutput`] or `tuple` `(images, latents)`.
        """
        _check_output_type(output_type)
        latents = self.latent_spec.prepare(
            batch_size, noise=noise, categorical=categorical, continuous=continuous, generator=generator, device=self.device,
            categorical_probabilities=self._sampling_prior(),
        )  # fmt: skip
        images = self.image_processor.postprocess(self.image_generator.generate(latents).float(), output_type)
        if not return_dict:
            return images, latents
        return InfoGANPipelineOutput(images=images, latents=latents)

    @torch.no_grad()
    def traverse(
        self,
        code: str,
        values: Optional[Sequence[float]] = None,
        num_rows: int = 5,
        row_code: Optional[str] = None,
        row_values: Optional[Sequence[float]] = None,
        steps: int = 10,
        value_range: tuple[float, float] = TRAVERSAL_CONTINUOUS_RANGE,
        generator: Optional[torch.Generator] = None,
        output_type: str = "pil",
    ) -> InfoGANTraversalOutput:
        r"""Varies one code across the columns with everything else held fixed (the paper's Figure 2).

        Args:
            code (`str`): the code varied across columns, e.g. `"categorical_0"` or `"continuous_1"`
                (see `pipe.latent_spec.code_names`).
            values (`Sequence[float]`, *optional*): its values; by default every category of a
                categorical code, or `steps` values over `value_range` for a continuous one.
            num_rows (`int`, defaults to 5): rows, each with its own noise and other codes, when no
                `row_code` is given.
            row_code (`str`, *optional*): a second code varied down the rows instead; the noise and
                remaining codes are then the same in every cell.
            row_values (`Sequence[float]`, *optional*): its values, chosen like `values`.
            steps (`int`, defaults to 10): number of values for a continuous code.
            value_range (`tuple[float, float]`, defaults to `(-2.0, 2.0)`): range for continuous codes;
                beyond the trained [-1, 1] by default, as in the paper.
            generator (`torch.Generator`, *optional*): makes the fixed samples deterministic.
            output_type (`str`, defaults to `"pil"`): type of `images`; the grid is always a PIL image.
        """
        _check_output_type(output_type)
        spec = self.latent_spec
        column_values = self._code_values(code, values, steps, value_range)
        if row_code is not None:
            if row_code == code:
                raise ValueError(f"row_code must differ from code, both are {code!r}.")
            rows = self._code_values(row_code, row_values, steps, value_range)
            base = spec.prepare(1, generator=generator, device=self.device, categorical_probabilities=self._sampling_prior())
            latents = _repeat(base, len(rows) * len(column_values))
            _assign(latents, spec, row_code, torch.tensor(rows).repeat_interleave(len(column_values)))
        else:
            if not isinstance(num_rows, int) or not 1 <= num_rows <= MAX_TRAVERSAL_STEPS:
                raise ValueError(f"num_rows must be an integer in 1..{MAX_TRAVERSAL_STEPS}, got {num_rows!r}.")
            rows = None
            base = spec.prepare(num_rows, generator=generator, device=self.device, categorical_probabilities=self._sampling_prior())
            latents = LatentBatch(
                *(part.repeat_interleave(len(column_values), dim=0) for part in (base.noise, base.categorical, base.continuous))
            )
        _assign(latents, spec, code, torch.tensor(column_values).repeat(len(rows) if rows else num_rows))
        pixels = self.image_processor.postprocess(self.image_generator.generate(latents).float(), "pt")
        grid = torchvision.utils.make_grid(pixels, nrow=len(column_values), padding=2, pad_value=1.0)
        images = pixels if output_type == "pt" else self.image_processor.postprocess(pixels * 2 - 1, output_type)
        return InfoGANTraversalOutput(
            images=images,
            grid=torchvision.transforms.functional.to_pil_image(grid),
            column_values=[float(value) for value in column_values],
            row_values=[float(value) for value in rows] if rows else None,
        )

    def _code_values(
        self, code: str, values: Optional[Sequence[float]], steps: int, value_range: tuple[float, float]
    ) -> list[float]:
        kind, index = self.latent_spec.parse_code_name(code)
        if values is None:
            if kind == "categorical":
                return list(range(self.latent_spec.categorical_codes[index]))
            if not isinstance(steps, int) or not 2 <= steps <= MAX_TRAVERSAL_STEPS:
                raise ValueError(f"steps must be an integer in 2..{MAX_TRAVERSAL_STEPS}, got {steps!r}.")
            low, high = value_range
            if not low < high:
                raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}.")
            return torch.linspace(low, high, steps).tolist()
        values = list(values)
        if not 1 <= len(values) <= MAX_TRAVERSAL_STEPS:
            raise ValueError(f"Give 1..{MAX_TRAVERSAL_STEPS} values for {code}, got {len(values)}.")
        # Validation of each value (range, NaN) is the spec's job.
        self.latent_spec.prepare(len(values), **{kind: _one_code_tensor(self.latent_spec, kind, index, values)})
        return values

    @torch.no_grad()
    def encode(self, images: PipelineImageInput) -> InfoGANEncodeOutput:
        r"""Infers the codes of images with Q(c|x): the InfoGAN as an unsupervised classifier.

        Args:
            images: PIL images, numpy arrays or tensors with values in [0, 1] (as this pipeline
                returns them), or tensors in [-1, 1]; resized to the model's image size.
        """
        if self.discriminator is None:
            raise ValueError("encode needs the discriminator with its Q head; this pipeline was loaded without one.")
        size = self.discriminator.config.image_size
        pixels = self.image_processor.preprocess(images, height=size, width=size)
        if pixels.shape[1] != self.discriminator.config.channels:
            raise ValueError(
                f"The model takes {self.discriminator.config.channels}-channel images, got {pixels.shape[1]} channels."
            )
        q = self.discriminator.infer_codes(pixels.to(self.device, self.discriminator.dtype))
        probabilities = [logits.float().softmax(dim=-1) for logits in q.categorical_logits]
        categorical = (
            torch.stack([p.argmax(dim=-1) for p in probabilities], dim=1)
            if probabilities
            else torch.zeros(pixels.shape[0], 0, dtype=torch.long)
        )
        return InfoGANEncodeOutput(probabilities, categorical, q.continuous_mean.float(), q.continuous_log_variance.float())


def _check_output_type(output_type: str) -> None:
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}.")


def _repeat(latents: LatentBatch, count: int) -> LatentBatch:
    return LatentBatch(*(part.expand(count, -1).clone() for part in (latents.noise, latents.categorical, latents.continuous)))


def _one_code_tensor(spec: LatentSpec, kind: str, index: int, values: Sequence[float]) -> torch.Tensor:
    """`values` in column `index` of a `(len(values), count)` tensor, with a valid 0 in the other
    columns, so that `LatentSpec.prepare` validates them."""
    count = spec.num_categorical_codes if kind == "categorical" else spec.continuous_codes
    column = torch.tensor(values, dtype=torch.float64)
    full = torch.zeros(len(values), count, dtype=torch.float64)
    full[:, index] = column
    return full


def _assign(latents: LatentBatch, spec: LatentSpec, code: str, values: torch.Tensor) -> None:
    kind, index = spec.parse_code_name(code)
    target = latents.categorical if kind == "categorical" else latents.continuous
    target[:, index] = values.to(target.device, target.dtype)
