import pytest
import torch

from infogan_hub.augmentation import random_affine, random_stroke_width


def test_no_rotation_zoom_or_shift_leaves_images_unchanged(mnist_test):
    images = mnist_test.batch(torch.arange(8))
    same = random_affine(images, torch.Generator().manual_seed(0), max_rotation_degrees=0, zoom_range=(1, 1), max_shift=0)
    assert torch.allclose(same, images, atol=1e-5)


def test_each_image_gets_its_own_transform_seeded_and_background_stays_black(mnist_test):
    image = mnist_test.batch(torch.arange(1)).repeat(16, 1, 1, 1)  # one digit, sixteen copies
    first = random_affine(image, torch.Generator().manual_seed(1))
    again = random_affine(image, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    differences = (first[1:] - first[:1]).abs().flatten(1).amax(dim=1)
    assert (differences > 0.5).all(), "every copy moved differently"
    assert first[:, :, 0, :].max() < -0.9 and first.min() >= -1.0 - 1e-6  # corners filled with background
    ink = (first > 0).flatten(1).sum(dim=1).float() / (image[:1] > 0).sum()
    assert ((ink > 0.7) & (ink < 1.4)).all(), "the digit is moved, not cut off or smeared"


def test_bad_shapes_and_zoom_ranges_are_refused():
    with pytest.raises(ValueError, match="batch_size, channels"):
        random_affine(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="zoom_range"):
        random_affine(torch.zeros(1, 1, 28, 28), zoom_range=(1.1, 0.9))


def test_each_image_is_thinned_thickened_or_kept_and_radius_zero_keeps_all(mnist_test):
    images = mnist_test.batch(torch.arange(64))
    assert torch.equal(random_stroke_width(images, torch.Generator().manual_seed(0), max_radius=0), images)
    changed = random_stroke_width(images, torch.Generator().manual_seed(0))
    assert torch.equal(changed, random_stroke_width(images, torch.Generator().manual_seed(0)))
    ink = ((changed + 1) / 2).flatten(1).sum(dim=1) / ((images + 1) / 2).flatten(1).sum(dim=1)
    thinner, kept, thicker = (ink < 0.6), (ink == 1), (ink > 1.4)
    assert (thinner | kept | thicker).all() and thinner.any() and kept.any() and thicker.any()
    assert changed.min() >= -1 and changed.max() <= images.max()  # morphology picks existing values only
    assert ((changed > 0) | (images <= 0))[thicker].all(), "thickening keeps every stroke pixel"


def test_bad_stroke_radii_are_refused():
    with pytest.raises(ValueError, match="non-negative integer"):
        random_stroke_width(torch.zeros(1, 1, 28, 28), max_radius=-1)
    with pytest.raises(ValueError, match="batch_size, channels"):
        random_stroke_width(torch.zeros(28, 28))
