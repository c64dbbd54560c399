"""training/category_repairs.py: the category checks' one reading of D, and which check repairs a code.
Whole runs with each check firing are in test_train.py."""

from __future__ import annotations

import argparse
import sys

import pytest
import torch

from tests.conftest import REPOSITORY

sys.path.insert(0, str(REPOSITORY / "training"))
import category_repairs  # noqa: E402
from infogan_hub.data import ImageDataset  # noqa: E402

CHECKS_OFF = {"seed": 0, "category_split_share": 0.0, "category_split_bimodality": 0.0, "category_satellite_leaving": 0.0,
              "category_recut_crossing": 0.0, "category_recut_gain": 0.8}  # fmt: skip


def random_images(count: int, seed: int = 0) -> ImageDataset:
    images = torch.randint(0, 256, (count, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    return ImageDataset(images, torch.zeros(count, dtype=torch.long), "random")


def shifted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A stand-in for the consistency term's copy: each image moved by its own random amount."""
    return images + 0.1 * torch.randn(images.shape[0], 1, 1, 1, generator=generator)


def test_forwards_inside_buffers_restored_leave_batchnorm_statistics_as_they_were(small_models):
    discriminator = small_models[1].train()
    before = [buffer.clone() for buffer in discriminator.buffers()]
    with category_repairs.buffers_restored(discriminator):
        discriminator(torch.randn(8, 1, 28, 28))
    assert all(torch.equal(a, b) for a, b in zip(before, discriminator.buffers()))
    discriminator(torch.randn(8, 1, 28, 28))  # outside, the running statistics move
    assert not all(torch.equal(a, b) for a, b in zip(before, discriminator.buffers()))


def test_the_checks_read_a_seeded_draw_in_batches_leave_d_s_statistics_and_read_copies_and_trunk_only_when_asked(small_models):
    discriminator = small_models[1].train()
    dataset, before = random_images(300), [buffer.clone() for buffer in discriminator.buffers()]
    images, (reading,) = category_repairs.read_categories(discriminator, dataset, step=7, seed=3, batch_size=64)
    assert torch.equal(images, torch.randperm(300, generator=torch.Generator().manual_seed(3)))  # fewer images than CATEGORY_SPLIT_IMAGES: all of them
    assert all(torch.equal(a, b) for a, b in zip(before, discriminator.buffers()))
    assert (reading.step, reading.name) == (7, "categorical_0")
    assert reading.trunk_features is None and reading.copy_decisions is None and reading.copy_features is None
    assert reading.decisions.shape == (300,) and reading.features.shape[0] == 300
    assert torch.allclose(reading.shares, torch.bincount(reading.decisions, minlength=10).double().div(300).to(reading.shares.dtype))
    # read as the D step reads its batches: each batch of 64 (of the draw's order) alone, in train mode
    with torch.no_grad(), category_repairs.buffers_restored(discriminator):
        first = discriminator.latent_spec.split_q_output(discriminator(dataset.batch(images[:64])).q_output).categorical_logits[0]
    assert torch.equal(reading.decisions[:64], first.argmax(dim=1))

    _, (read_again,) = category_repairs.read_categories(discriminator, dataset, step=7, seed=3, batch_size=64, copy=shifted, trunk=True)
    assert torch.equal(read_again.decisions, reading.decisions) and torch.equal(read_again.features, reading.features)
    assert read_again.trunk_features.shape[0] == read_again.copy_features.shape[0] == read_again.copy_decisions.shape[0] == 300
    assert not torch.equal(read_again.copy_features, read_again.features)
    _, (copies_again,) = category_repairs.read_categories(discriminator, dataset, step=7, seed=3, batch_size=64, copy=shifted)
    assert torch.equal(copies_again.copy_features, read_again.copy_features)  # the copies' transform is seeded too
    other, _ = category_repairs.read_categories(discriminator, dataset, step=7, seed=4, batch_size=64)
    assert not torch.equal(other, images)


def reading(shares: list[float], step: int = 5) -> category_repairs.CategoryReading:
    """A reading whose decisions hold `shares` of 100 images (the checks below read no features)."""
    decisions = torch.cat([torch.full((round(100 * share),), category) for category, share in enumerate(shares)])
    return category_repairs.CategoryReading(step, "categorical_0", decisions, torch.tensor(shares), torch.zeros(100, 4), None, None, None)


def test_the_checks_on_are_tried_in_order_and_a_share_split_takes_the_smallest_category_s_place():
    recorded = []
    off = category_repairs.CategoryRepairs(argparse.Namespace(**CHECKS_OFF), print, recorded.append)
    assert off.checks == [off.split_in_place_of_smallest]
    every = category_repairs.CategoryRepairs(argparse.Namespace(**CHECKS_OFF | {"category_satellite_leaving": 0.3, "category_recut_crossing": 0.1}), print, None)
    assert every.checks == [every.split_in_place_of_smallest, every.satellite_in_place_of_smallest, every.pair_to_recut]

    share = category_repairs.CategoryRepairs(argparse.Namespace(**CHECKS_OFF | {"category_split_share": 0.3}), print, None)
    repair = share.split_in_place_of_smallest(reading([0.5, 0.3, 0.15, 0.05]))
    assert (repair.source, repair.target, repair.along_copies) == (0, 3, False)
    assert int(repair.images.sum()) == 50 and "held 50.0% of the images" in repair.why
    assert share.split_in_place_of_smallest(reading([0.3, 0.3, 0.3, 0.1])) is None  # none above the share


@pytest.mark.parametrize("main_process", [True, False])
def test_the_most_bimodal_category_splits_above_the_score_and_its_reading_is_recorded_on_the_main_process_alone(main_process):
    recorded = []
    record = (lambda step, metrics: recorded.append((step, metrics))) if main_process else None
    bimodal = category_repairs.CategoryRepairs(argparse.Namespace(**CHECKS_OFF | {"category_split_bimodality": 0.9}), print, record)
    # category 0 holds two tight modes far apart, category 1 one Gaussian mode (about 2/pi), category 2 is the smallest
    two_modes = torch.cat([torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 0.01 + sign for sign in (1.0, -1.0)])
    trunk = torch.cat([two_modes, torch.randn(50, 3, generator=torch.Generator().manual_seed(1))])
    decisions = torch.cat([torch.full((100,), 0), torch.full((30,), 1), torch.full((20,), 2)])
    read = category_repairs.CategoryReading(9, "categorical_0", decisions, torch.tensor([100 / 150, 30 / 150, 20 / 150]), torch.zeros(150, 4), trunk, None, None)
    repair = bimodal.split_in_place_of_smallest(read)
    assert (repair.source, repair.target, int(repair.images.sum())) == (0, 2, 100) and "in two modes" in repair.why
    if main_process:
        [(step, metrics)] = recorded
        assert step == 9 and metrics["category_split/categorical_0/bimodal_category"] == 0 and metrics["category_split/categorical_0/bimodality"] > 0.99
    else:
        assert recorded == []
    # one mode in every candidate: read and recorded, no split
    one_mode = read._replace(trunk_features=torch.randn(150, 3, generator=torch.Generator().manual_seed(2)))
    assert bimodal.split_in_place_of_smallest(one_mode) is None
    assert len(recorded) == (2 if main_process else 0)
