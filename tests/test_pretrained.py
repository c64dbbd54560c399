"""The MNIST model bundled in pretrained/infogan-mnist: what a newcomer loads first."""

import json

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from huggingface_hub import ModelCard

from infogan_hub import InfoGANPipeline
from infogan_hub.data import ImageDataset
from infogan_hub.evaluation import clustering_accuracy, predict_categories

from .conftest import REPOSITORY

BUNDLED = REPOSITORY / "pretrained" / "infogan-mnist"


@pytest.fixture(scope="module")
def bundled():
    return InfoGANPipeline.from_pretrained(BUNDLED)


def test_the_bundled_model_loads_with_both_loaders_and_is_small(bundled):
    other = DiffusionPipeline.from_pretrained(BUNDLED)
    seed = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    np.testing.assert_array_equal(
        bundled(batch_size=2, generator=seed(), output_type="np").images, other(batch_size=2, generator=seed(), output_type="np").images
    )
    assert bundled.latent_spec.code_names == ["categorical_0", "continuous_0", "continuous_1"]
    size = sum(path.stat().st_size for path in BUNDLED.rglob("*") if path.is_file())
    assert size <= 30 * 1024 * 1024


def test_its_card_metadata_parses_and_carries_its_measurements():
    card = ModelCard.load(BUNDLED / "README.md")
    results = json.loads((BUNDLED / "evaluation_results.json").read_text())
    accuracy = results["clustering"]["codes"]["categorical_0"]["accuracy"]
    metrics = card.data.to_dict()["model-index"][0]["results"][0]["metrics"]
    assert {"type": "accuracy", "value": round(accuracy, 4), "name": "Clustering accuracy of categorical_0"} in metrics
    assert card.data.pipeline_tag == "unconditional-image-generation" and "infogan" in card.data.tags
    for image in ("images/traversal-categorical_0.png", "images/traversal-continuous_0.png", "images/traversal-continuous_1.png"):
        assert f"]({image})" in card.text and (BUNDLED / image).is_file()


def test_its_categorical_code_classifies_real_mnist_digits(bundled, mnist_test):
    """Recomputed here on 2000 test images, without labels in the model: the paper reports about 95%."""
    subset = ImageDataset(mnist_test.images[:2000], mnist_test.labels[:2000], "mnist/test[:2000]")
    predictions = predict_categories(bundled.discriminator, subset)[:, 0].numpy()
    accuracy, _ = clustering_accuracy(predictions, subset.labels.numpy())
    assert accuracy > 0.90


def test_each_category_draws_one_digit(bundled, mnist_test):
    """The generated images of each category are read back by Q as that category."""
    images = bundled(batch_size=100, categorical=torch.arange(10).repeat_interleave(10)[:, None],
                     generator=torch.Generator().manual_seed(1), output_type="pt").images  # fmt: skip
    encoded = bundled.encode(images)
    assert (encoded.categorical[:, 0] == torch.arange(10).repeat_interleave(10)).float().mean() > 0.9
