"""dSprites (Matthey et al. 2017), drawn here rather than downloaded.

The published description fixes the factor grid: shape (square, ellipse, heart), scale (6 values
linearly spaced in [0.5, 1]), orientation (40 values in [0, 2 pi]), position x and y (32 values
each in [0, 1]), every combination once, 737,280 binary 64x64 images, stored with position y
varying fastest. The pixel extents are not in that description; here a sprite's center moves
over pixels 12.625 .. 51.375 in steps of 1.25 (every position distinct, and the largest sprite,
turned, stays inside), and at scale 1 the square's side is 16 pixels (a quarter of the image).
Each pixel is white when at least half of its 4x4 sub-samples fall inside the shape.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

IMAGE_SIZE = 64
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * math.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
FACTOR_SIZES = (len(SHAPES), len(SCALES), len(ORIENTATIONS), len(POSITIONS), len(POSITIONS))
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280

FIRST_CENTER, CENTER_STEP = 12.625, 1.25  # pixels: 32 positions span 12.625 .. 51.375
SQUARE_SIDE = 16.0  # pixels at scale 1; the ellipse and heart have about the same area
SUBSAMPLES = 4  # per pixel side
PATCH = 28  # pixels around the center that a sprite may cover (the turned square's half-diagonal is 11.3)


def factor_values() -> list[np.ndarray]:
    """Each factor's values, in FACTOR_NAMES order (shape as its index)."""
    return [np.arange(len(SHAPES), dtype=np.float64), SCALES, ORIENTATIONS, POSITIONS, POSITIONS]


def factor_indices(indices: np.ndarray) -> np.ndarray:
    """The factor indices `(N, 5)` of flat image indices: the image order of the original file."""
    return np.stack(np.unravel_index(np.asarray(indices), FACTOR_SIZES), axis=1)


def flat_indices(factors: np.ndarray) -> np.ndarray:
    """Flat image indices of factor indices `(N, 5)`; the inverse of `factor_indices`."""
    factors = np.asarray(factors)
    return np.ravel_multi_index(tuple(factors.T), FACTOR_SIZES)


def _inside(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points in the sprite's own frame (unit: the scale-1 square's half side, y up) are inside."""
    if shape == "square":
        return (np.abs(x) <= 1) & (np.abs(y) <= 1)
    if shape == "ellipse":  # 2:1, 88% of the square's area
        return (x / 1.5) ** 2 + (y / 0.75) ** 2 <= 1
    # heart: (x^2 + y^2 - 1)^3 <= x^2 y^3, point down, shrunk to stay inside when turned
    x, y = 1.15 * x, 1.15 * y - 0.1
    return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0


def render_patch(shape: str, scale: float, orientation: float, offset_x: float, offset_y: float) -> np.ndarray:
    """One sprite in a PATCH x PATCH boolean patch, its center at (PATCH/2 + offset) pixels."""
    samples = (np.arange(PATCH * SUBSAMPLES) + 0.5) / SUBSAMPLES
    # image coordinates: column to the right, row downward; the sprite frame has y upward
    dx = samples[None, :] - (PATCH / 2 + offset_x)
    dy = (PATCH / 2 + offset_y) - samples[:, None]
    cos, sin = math.cos(orientation), math.sin(orientation)
    unit = scale * SQUARE_SIDE / 2
    x, y = (cos * dx + sin * dy) / unit, (-sin * dx + cos * dy) / unit  # turned by -orientation
    inside = _inside(shape, x, y).astype(np.float32)
    coverage = inside.reshape(PATCH, SUBSAMPLES, PATCH, SUBSAMPLES).mean(axis=(1, 3))
    return coverage >= 0.5


def generate(indices: Optional[np.ndarray] = None, chunk_size: int = 16_384) -> np.ndarray:
    """The images, uint8 0/255 of shape `(N, 64, 64)`: all 737,280 in the original order, or those at `indices`."""
    indices = np.arange(NUM_IMAGES) if indices is None else np.asarray(indices)
    images = np.empty((len(indices), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    patches: dict[tuple, np.ndarray] = {}
    for start in range(0, len(indices), chunk_size):
        images[start : start + chunk_size] = _draw(factor_indices(indices[start : start + chunk_size]), patches)
    return images


def generate_packed(chunk_size: int = 16_384) -> np.ndarray:
    """All images as bits, `(NUM_IMAGES, 64 * 64 / 8)` uint8 rows (np.packbits), drawn chunk by chunk
    so that the 3 GB of 0/255 bytes never exist at once."""
    return np.concatenate([
        np.packbits(generate(np.arange(start, min(start + chunk_size, NUM_IMAGES))).reshape(-1, IMAGE_SIZE**2) > 0, axis=1)
        for start in range(0, NUM_IMAGES, chunk_size)
    ])  # fmt: skip


def _draw(factors: np.ndarray, patches: dict[tuple, np.ndarray]) -> np.ndarray:
    """Images for factor indices `(N, 5)`; `patches` caches each (shape, scale, orientation, sub-pixel phase)."""
    centers = FIRST_CENTER + CENTER_STEP * factors[:, 3:5]  # (N, 2): x (column) and y (row) in pixels
    corners = np.floor(centers).astype(int) - PATCH // 2 + PATCH  # in the padded canvas
    phase_steps = np.round((centers - np.floor(centers)) / 0.125).astype(int)  # phases are multiples of 1/8 pixel
    canvas = np.zeros((len(factors), IMAGE_SIZE + 2 * PATCH, IMAGE_SIZE + 2 * PATCH), dtype=np.uint8)
    keys = np.concatenate([factors[:, :3], phase_steps], axis=1)
    unique_keys, groups = np.unique(keys, axis=0, return_inverse=True)
    offsets = np.arange(PATCH)
    for group, key in enumerate(unique_keys.tolist()):
        key = tuple(key)
        if key not in patches:
            shape, scale, orientation, phase_x, phase_y = key
            patch = render_patch(SHAPES[shape], SCALES[scale], ORIENTATIONS[orientation], phase_x / 8, phase_y / 8)
            patches[key] = patch.astype(np.uint8) * 255
        members = np.flatnonzero(groups.ravel() == group)
        rows = corners[members, 1, None, None] + offsets[None, :, None]
        columns = corners[members, 0, None, None] + offsets[None, None, :]
        canvas[members[:, None, None], rows, columns] = patches[key]
    return canvas[:, PATCH : PATCH + IMAGE_SIZE, PATCH : PATCH + IMAGE_SIZE]
