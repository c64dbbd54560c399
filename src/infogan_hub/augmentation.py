"""Identity-preserving transforms of real images, for the categorical consistency term.

Each image gets its own random rotation, zoom, shift and elastic distortion (Elastic-InfoGAN's
and IIC's MNIST transforms), applied in one batched resampling with no per-image Python.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F


def random_affine(
    images: torch.Tensor,
    generator: Optional[torch.Generator] = None,
    max_rotation_degrees: float = 20.0,
    zoom_range: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 0.1,
    elastic_strength: float = 0.0,
) -> torch.Tensor:
    """Rotates, zooms, shifts and elastically distorts each image of a batch by its own random amounts.

    Args:
        images (`torch.Tensor` of shape `(batch_size, channels, height, width)`): in [-1, 1]; the
            area moved in from outside is filled with -1 (background).
        generator (`torch.Generator`, *optional*): CPU generator for the random amounts.
        max_rotation_degrees (`float`, defaults to 20): rotation drawn from [-max, max].
        zoom_range (`tuple[float, float]`, defaults to `(0.9, 1.1)`): scale factor drawn from it.
        max_shift (`float`, defaults to 0.1): shift in each direction, as a fraction of the side.
        elastic_strength (`float`, defaults to 0): largest local displacement of the elastic
            distortion, as a fraction of the side: a random 4x4 field of displacements, smoothly
            interpolated, bends strokes without changing which digit they draw. 0: none.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (batch_size, channels, height, width), got shape {tuple(images.shape)}.")
    if not 0 < zoom_range[0] <= zoom_range[1]:
        raise ValueError(f"zoom_range must be (low, high) with 0 < low <= high, got {zoom_range!r}.")
    batch_size = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch_size, generator=generator)

    angle = uniform(-max_rotation_degrees, max_rotation_degrees) * (math.pi / 180)
    inverse_zoom = 1 / uniform(*zoom_range)  # the grid maps output to input coordinates
    cos, sin = torch.cos(angle) * inverse_zoom, torch.sin(angle) * inverse_zoom
    shift = uniform(-2 * max_shift, 2 * max_shift), uniform(-2 * max_shift, 2 * max_shift)  # grid units span 2
    theta = torch.stack([torch.stack([cos, -sin, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    if elastic_strength:
        coarse = (torch.rand(batch_size, 2, 4, 4, generator=generator) * 2 - 1) * (2 * elastic_strength)
        field = F.interpolate(coarse.to(images.device, images.dtype), size=images.shape[-2:], mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1)
    # grid_sample fills with zeros; shift to a zero background and back.
    return F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
