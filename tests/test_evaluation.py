import json
import math

import numpy as np
import pytest
import torch

from .conftest import SMALL_ARCHITECTURE
from infogan_hub.evaluation import (
    best_clustering_scores,
    clustering_accuracy,
    clustering_errors,
    consistency_mutual_information,
    describe_clustering,
    evaluate,
    mutual_information_lower_bound,
    prior_total_variation,
    write_results,
)


def test_clusters_that_are_a_relabelling_score_one():
    labels = np.repeat(np.arange(10), 7)
    permutation = np.random.default_rng(0).permutation(10)
    accuracy, matching = clustering_accuracy(permutation[labels], labels)
    assert accuracy == 1.0
    assert all(matching[permutation[label]] == label for label in range(10))


def test_clustering_accuracy_uses_the_best_one_to_one_matching():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    clusters = np.array([2, 2, 1, 0, 0, 0, 0, 1])  # best: 2->0, 0->1, 1->2 gives 2 + 3 + 1 = 6 of 8
    assert clustering_accuracy(clusters, labels)[0] == pytest.approx(6 / 8)
    with pytest.raises(ValueError, match="equal-length"):
        clustering_accuracy(np.array([0, 1]), np.array([0]))


def test_clustering_errors_name_the_merged_categories_and_the_split_classes():
    # three classes and three categories: category 2 holds classes 1 and 2, class 0 is over categories 0 and 1
    matrix = [[80, 0, 1], [15, 1, 0], [5, 60, 30]]
    assert clustering_errors(matrix) == {
        "merged": [{"category": 2, "classes": [(1, 60 / 95), (2, 30 / 95)]}],
        "split": [{"class": 0, "categories": [(0, 0.8), (1, 0.15)]}],
    }
    # a part under the threshold is not a second part: 9 of 100 in a second category is not a split
    assert clustering_errors([[91, 0], [9, 50]]) == {"merged": [{"category": 1, "classes": [(1, 50 / 59), (0, 9 / 59)]}], "split": []}
    assert clustering_errors([[91, 0], [9, 50]], part=0.2) == {"merged": [], "split": []}
    assert clustering_errors(np.diag([5, 7, 0])) == {"merged": [], "split": []}  # an empty category or class is neither
    for bad, message in (([1, 2], "2-D"), ([[1, -1]], "counts"), (np.zeros((0, 3)), "non-empty")):
        with pytest.raises(ValueError, match=message):
            clustering_errors(bad)
    with pytest.raises(ValueError, match="part must be in"):
        clustering_errors(matrix, part=0.6)
    results = {"clustering": {"dataset": "mnist_imbalanced_8/test", "codes": {"categorical_0": clustering_errors(matrix), "categorical_1": {"accuracy": 0.9}}}}
    assert describe_clustering(results) == [
        "categorical_0 on mnist_imbalanced_8/test: category 2 holds 1 (63%) and 2 (32%); class 0 is split over categories 0 (80%) and 1 (15%)"
    ]
    assert describe_clustering({"clustering": {"dataset": "d", "codes": {"c": clustering_errors(np.diag([3, 4]))}}}) == [
        "c on d: each category holds one class and each class one category (parts under 10% aside)"
    ]
    assert describe_clustering({}) == []


def test_a_q_head_that_outputs_nothing_has_a_zero_bound(small_models):
    image_generator, discriminator = small_models
    torch.nn.init.zeros_(discriminator.q_head[-1].weight)
    torch.nn.init.zeros_(discriminator.q_head[-1].bias)
    bounds = mutual_information_lower_bound(image_generator, discriminator, num_samples=300, batch_size=128)
    assert bounds["categorical_0"] == pytest.approx(0.0, abs=1e-6)
    # zero mean and log-variance: NLL of Uniform(-1, 1) codes under N(0, 1) is 0.5 ln(2 pi) + 1/6
    assert bounds["continuous_0"] == pytest.approx(math.log(2) - 0.5 * math.log(2 * math.pi) - 1 / 6, abs=0.05)


def test_evaluate_reports_accuracy_on_labelled_images_and_writes_json(small_models, mnist_test, tmp_path):
    from infogan_hub.data import ImageDataset

    image_generator, discriminator = small_models
    subset = ImageDataset(mnist_test.images[:500], mnist_test.labels[:500], "mnist/test[:500]")
    results = evaluate(image_generator, discriminator, subset, num_samples=200)
    code = results["clustering"]["codes"]["categorical_0"]
    assert 0.0 < code["accuracy"] <= 1.0 and len(code["matching"]) == 10
    assert 0.0 <= code["nmi"] <= 1.0 and -1.0 <= code["ari"] <= 1.0  # an untrained Q: near chance, not perfect
    assert code["nmi"] < 0.5 and code["ari"] < 0.5
    assert results["categorical_entropy"]["categorical_0"] == pytest.approx(math.log(10))
    # Q's category against the class of every image, rows the categories: its columns count each class
    matrix = np.asarray(code["matrix"])
    assert matrix.shape == (10, 10) and (matrix.sum(axis=0) == np.bincount(subset.labels.numpy(), minlength=10)).all()
    assert matrix[list(code["matching"]), list(code["matching"].values())].sum() == round(code["accuracy"] * 500)
    assert {key: code[key] for key in ("merged", "split")} == clustering_errors(matrix)
    path = write_results(results, tmp_path)
    assert json.loads(path.read_text())["clustering"]["num_images"] == 500


def test_the_best_code_brings_its_nmi_and_ari_along():
    results = {"clustering": {"codes": {
        "categorical_0": {"accuracy": 0.5, "nmi": 0.4, "ari": 0.3, "matching": {}},
        "categorical_1": {"accuracy": 0.9, "nmi": 0.8, "ari": 0.7, "matching": {}},
    }}}  # fmt: skip
    assert best_clustering_scores(results) == {"accuracy": 0.9, "nmi": 0.8, "ari": 0.7}
    assert best_clustering_scores({"mutual_information_lower_bound": {}}) is None


def test_category_usage_needs_no_labels_and_flags_an_empty_category(small_models, mnist_test):
    from infogan_hub.data import ImageDataset
    from infogan_hub.evaluation import category_usage

    even = category_usage(np.arange(100) % 10, 10)
    assert even["entropy"] == pytest.approx(math.log(10)) and even["min_share"] == even["max_share"] == 0.1
    one_empty = category_usage(np.arange(90) % 9, 10)  # category 9 never chosen
    assert one_empty["min_share"] == 0.0 and one_empty["entropy"] == pytest.approx(math.log(9))
    image_generator, discriminator = small_models
    unlabelled = ImageDataset(mnist_test.images[:300], None, "unlabelled")
    results = evaluate(image_generator, discriminator, unlabelled, num_samples=100)
    usage = results["category_usage"]["codes"]["categorical_0"]
    assert "clustering" not in results and len(usage["shares"]) == 10 and sum(usage["shares"]) == pytest.approx(1.0)


def test_consistency_mutual_information_is_the_usage_entropy_for_a_confident_q_and_copies_that_keep_the_category(small_models, mnist_test):
    from infogan_hub.data import ImageDataset
    from infogan_hub.evaluation import category_usage, predict_categories

    _, discriminator = small_models
    unlabelled = ImageDataset(mnist_test.images[:400], None, "unlabelled")  # labels are not read
    last = discriminator.q_head[-1]
    features = []
    hook = last.register_forward_hook(lambda module, inputs, output: features.append(inputs[0]))
    discriminator.infer_codes(unlabelled.batch(torch.arange(400)))
    hook.remove()
    with torch.no_grad():  # Q all but certain of each image's category, and the categories differ between images
        last.weight.mul_(1e6)  # the features differ little between images at initialisation
        last.bias.copy_(-last.weight @ features[0].mean(dim=0))
    usage = category_usage(predict_categories(discriminator, unlabelled)[:, 0].numpy(), 10)
    assert usage["entropy"] > 0.5  # the images are spread over several categories
    kept = consistency_mutual_information(discriminator, unlabelled, lambda images, generator: images, num_images=400)
    assert kept == pytest.approx(usage["entropy"], abs=0.01)  # I(c; c) = H(c)
    blank = consistency_mutual_information(discriminator, unlabelled, lambda images, generator: torch.full_like(images, -1), num_images=400)
    assert blank < kept / 4  # every copy lands in one category, which says nothing of its image
    subset = consistency_mutual_information(discriminator, unlabelled, lambda images, generator: images, num_images=100)
    assert subset != kept and 0 <= subset <= math.log(10)  # a seeded subset of 100 images
    with pytest.raises(ValueError, match="reads Q's first categorical code; this model has none"):
        from infogan_hub import InfoGANDiscriminator

        consistency_mutual_information(InfoGANDiscriminator(**{**SMALL_ARCHITECTURE, "categorical_codes": []}), unlabelled, lambda images, generator: images)


def test_prior_total_variation_compares_each_category_with_its_matched_class():
    frequencies = [0.5, 0.3, 0.2]
    assert prior_total_variation([0.2, 0.5, 0.3], {0: 2, 1: 0, 2: 1}, frequencies) == pytest.approx(0)
    assert prior_total_variation([1 / 3] * 3, {0: 0, 1: 1, 2: 2}, frequencies) == pytest.approx(0.5 * (1 / 6 + 1 / 30 + 2 / 15))
    # category 2 matched no class and class 2 (0.2) no category: both count in full
    assert prior_total_variation([0.5, 0.3, 0.2], {"0": "0", "1": "1"}, frequencies) == pytest.approx(0.5 * (0.2 + 0.2))
    # a code of fewer categories than classes: clustering_accuracy's square matching also pairs clusters
    # the code does not have (2 here) with the classes left over, and those classes are unmatched
    assert prior_total_variation([0.6, 0.4], {0: 0, 1: 1, 2: 2}, frequencies) == pytest.approx(0.5 * (0.1 + 0.1 + 0.2))


def test_a_learned_prior_is_reported_with_its_distance_from_the_classes(mnist_test):
    from infogan_hub import InfoGANDiscriminator, InfoGANGenerator

    from .conftest import SMALL_ARCHITECTURE

    image_generator = InfoGANGenerator(**SMALL_ARCHITECTURE, categorical_prior="learned")
    with torch.no_grad():
        image_generator.categorical_prior_logits.copy_(torch.tensor([0.5] + [0.5 / 9] * 9).log())
    discriminator = InfoGANDiscriminator(**SMALL_ARCHITECTURE, q_hidden_dim=16, categorical_prior="learned")
    results = evaluate(image_generator, discriminator, dataset=mnist_test, num_samples=200)
    assert results["categorical_prior"]["categorical_0"] == pytest.approx([0.5] + [0.5 / 9] * 9, abs=1e-6)
    assert results["categorical_entropy"]["categorical_0"] == pytest.approx(-(0.5 * math.log(0.5) + 0.5 * math.log(0.5 / 9)), abs=1e-5)
    clustering = results["clustering"]
    assert sum(clustering["class_frequencies"]) == pytest.approx(1) and len(clustering["class_frequencies"]) == 10
    code = clustering["codes"]["categorical_0"]
    assert code["prior_total_variation"] == pytest.approx(
        prior_total_variation(results["categorical_prior"]["categorical_0"], code["matching"], clustering["class_frequencies"])
    ) and code["prior_total_variation"] > 0.3  # half the mass on one category, against MNIST's near-even classes
