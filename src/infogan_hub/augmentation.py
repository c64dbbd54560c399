"""Identity-preserving transforms of real images, for the categorical consistency term.

Each image gets its own random rotation, zoom, shift and elastic distortion (Elastic-InfoGAN's
and IIC's MNIST transforms), applied in one batched resampling with no per-image Python, and
optionally its own stroke width (grey-level erosion or dilation).
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


def _plus_window_extreme(images: torch.Tensor, dilate: bool) -> torch.Tensor:
    """Grey-level dilation (max) or erosion (min) over each pixel and its 4 neighbours; outside is background."""
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)
    window = torch.stack([padded[..., 1:-1, 1:-1], padded[..., :-2, 1:-1], padded[..., 2:, 1:-1], padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]])
    return window.amax(dim=0) if dilate else window.amin(dim=0)


def random_stroke_width(images: torch.Tensor, generator: Optional[torch.Generator] = None, max_radius: int = 1) -> torch.Tensor:
    """Thins or thickens the bright strokes of each image by its own random amount.

    Each image is eroded or dilated by a radius drawn uniformly from -max_radius..max_radius (0
    leaves it unchanged): grey-level morphology with a plus-shaped window, applied radius times,
    background -1. On MNIST one step keeps about 30% of the ink (thinning) or makes 1.8 times as
    much (thickening). Pen width says nothing about which digit was written, yet without this
    transform a category can split thin 4s and 9s from thick ones.

    Args:
        images (`torch.Tensor` of shape `(batch_size, channels, height, width)`): in [-1, 1].
        generator (`torch.Generator`, *optional*): CPU generator for the random radii.
        max_radius (`int`, defaults to 1): largest change, in pixels on each side of a stroke.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (batch_size, channels, height, width), got shape {tuple(images.shape)}.")
    if not isinstance(max_radius, int) or max_radius < 0:
        raise ValueError(f"max_radius must be a non-negative integer number of pixels, got {max_radius!r}.")
    if max_radius == 0:  # off: draw nothing, so the random stream of the transforms after it is unchanged
        return images
    radius = torch.randint(-max_radius, max_radius + 1, (images.shape[0],), generator=generator).to(images.device)[:, None, None, None]
    result, dilated, eroded = images, images, images
    for size in range(1, max_radius + 1):
        dilated, eroded = _plus_window_extreme(dilated, dilate=True), _plus_window_extreme(eroded, dilate=False)
        result = torch.where(radius == size, dilated, torch.where(radius == -size, eroded, result))
    return result
