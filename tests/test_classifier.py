"""The evaluation classifiers: an instrument, so its own accuracy is measured here on the real test sets."""

import pytest
import torch

from infogan_hub import InfoGANPipeline
from infogan_hub.classifier import classifier_name, load_classifier
from infogan_hub.data import class_names, load_dataset
from infogan_hub.evaluation import describe_generation, evaluate, generated_classes

from .conftest import REPOSITORY


@pytest.mark.parametrize("name, required", [("mnist", 0.99), ("fashion_mnist", 0.90)])
def test_the_cached_classifiers_read_the_test_sets(name, required):
    classifier = load_classifier(name)
    test = load_dataset(name, "test")
    accuracy = (classifier.predict(test.batch(torch.arange(len(test)))) == test.labels).float().mean().item()
    assert accuracy >= required and accuracy == pytest.approx(classifier.test_accuracy, abs=1e-6)


def test_which_classifier_measures_which_data_and_a_missing_one_says_how_to_build_it(tmp_path, monkeypatch):
    assert [classifier_name(name) for name in ("mnist/test", "mnist_imbalanced_3", "fashion_mnist", "my/folder")] == ["mnist", "mnist", "fashion_mnist", None]
    monkeypatch.setenv("INFOGAN_HUB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m infogan_hub.classifier build fashion_mnist"):
        load_classifier("fashion_mnist")
    with pytest.raises(ValueError, match="No evaluation classifier for 'svhn'"):
        load_classifier("svhn")


def test_the_bundled_models_categories_each_draw_one_digit():
    pipe = InfoGANPipeline.from_pretrained(REPOSITORY / "pretrained" / "infogan-mnist", dtype=torch.float32)
    drawn = generated_classes(pipe.image_generator.eval(), load_classifier("mnist"), 2000, generator=torch.Generator().manual_seed(0),
                              class_names=class_names("mnist"))["codes"]["categorical_0"]  # fmt: skip
    assert drawn["accuracy"] > 0.95 and drawn["nmi"] > 0.9 and drawn["ent"] < 0.15
    assert sorted(draw["class"] for draw in drawn["draws"]) == list(range(10)), "ten categories, ten digits"
    assert sum(map(sum, drawn["matrix"])) == 2000 and all(draw["class_name"] == f"digit {draw['class']}" for draw in drawn["draws"])


def test_evaluation_reports_what_categories_draw_and_the_sentences_say_it(small_models):
    image_generator, discriminator = small_models
    results = evaluate(image_generator, discriminator, num_samples=300, classifier=load_classifier("mnist"))
    generation = results["generation"]
    assert generation["classifier"] == "mnist" and generation["classifier_test_accuracy"] >= 0.99 and generation["num_samples"] == 300
    lines = describe_generation(results)
    assert lines[0].startswith("categorical_0 on 300 generated images, read by the mnist evaluation classifier (")
    assert lines[1].startswith("categorical_0: 0 draws digit ") and lines[1].count(" draws ") == len(generation["codes"]["categorical_0"]["draws"])
