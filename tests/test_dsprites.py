import numpy as np

from infogan_hub import dsprites


def test_the_factor_grid_is_the_published_one():
    assert dsprites.FACTOR_SIZES == (3, 6, 40, 32, 32) and dsprites.NUM_IMAGES == 737_280
    assert np.allclose(dsprites.SCALES, np.linspace(0.5, 1, 6)) and dsprites.ORIENTATIONS[-1] == np.float64(2 * np.pi)
    indices = np.random.default_rng(0).choice(dsprites.NUM_IMAGES, 1000, replace=False)
    factors = dsprites.factor_indices(indices)
    assert np.array_equal(dsprites.flat_indices(factors), indices)
    # position y varies fastest, then x, as in the original file
    assert dsprites.factor_indices([0, 1, 32])[:, 3:].tolist() == [[0, 0], [0, 1], [1, 0]]


def test_each_factor_changes_the_image_and_sprites_stay_inside():
    random = np.random.default_rng(1)
    base = np.array([random.integers(size) for size in dsprites.FACTOR_SIZES])
    for factor, size in enumerate(dsprites.FACTOR_SIZES):
        # orientation: a quarter turn leaves the square unchanged, so step by 3 (27 degrees)
        changed = base.copy()
        changed[factor] = (base[factor] + (3 if factor == 2 else 1)) % size
        if factor == 2 and base[0] == 0 and (changed[2] - base[2]) % 10 == 0:
            changed[2] = (base[2] + 1) % size
        before, after = dsprites.generate(dsprites.flat_indices(np.stack([base, changed])))
        assert (before != after).any(), f"changing {dsprites.FACTOR_NAMES[factor]} left the image as it was"
    corners = np.array([[shape, 5, orientation, x, y] for shape in range(3) for orientation in range(40) for x in (0, 31) for y in (0, 31)])
    images = dsprites.generate(dsprites.flat_indices(corners))
    assert set(np.unique(images)) == {0, 255}
    assert images.reshape(len(images), -1).max(axis=1).min() == 255, "every image shows its sprite"
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.max() == 0, "the largest sprites, turned, at the extreme positions touch no edge"


def test_larger_scales_cover_more_pixels_and_x_moves_the_sprite_right():
    small, large = dsprites.generate(dsprites.flat_indices([[2, 0, 0, 16, 16], [2, 5, 0, 16, 16]]))
    assert 3 < (large > 0).sum() / (small > 0).sum() < 5  # area grows with scale squared: (1 / 0.5)^2
    left, right = dsprites.generate(dsprites.flat_indices([[0, 3, 0, 0, 10], [0, 3, 0, 31, 10]]))
    assert np.nonzero(right)[1].mean() - np.nonzero(left)[1].mean() > 35  # 31 steps of 1.25 pixels
