"""What the codes learned, measured: the mutual information lower bound and clustering accuracy.

Run as a command on a saved pipeline folder:

    python -m infogan_hub.evaluation OUTPUT_DIR --dataset mnist

writes `OUTPUT_DIR/evaluation_results.json`, which the model card reads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from .data import ImageDataset, class_names, load_dataset
from .latent import LatentSpec
from .losses import categorical_consistency_loss, information_terms
from .models import InfoGANDiscriminator, InfoGANGenerator

# What a training run's output folder holds besides the pipeline; the card and the analysis read them.
RESULTS_FILE = "evaluation_results.json"
TRAINING_CONFIG_FILE = "training_config.json"
METRICS_FILE = "metrics.jsonl"
# With --candidate_runs: each candidate's score and the one carried on.
CANDIDATES_FILE = "candidates.json"


def count_matrix(categories: np.ndarray, classes: np.ndarray, num_categories: int, num_classes: int) -> np.ndarray:
    """How many items of each class (columns) each category (rows) holds."""
    matrix = np.zeros((num_categories, num_classes), dtype=np.int64)
    np.add.at(matrix, (categories, classes), 1)
    return matrix


def clustering_accuracy(predictions: np.ndarray, labels: np.ndarray) -> tuple[float, dict[int, int]]:
    """Accuracy of cluster ids as class labels under the best one-to-one matching (Hungarian algorithm).

    Returns the accuracy in [0, 1] and the matching `{cluster: label}`.
    """
    predictions, labels = np.asarray(predictions).astype(np.int64), np.asarray(labels).astype(np.int64)
    if predictions.shape != labels.shape or predictions.ndim != 1 or predictions.size == 0:
        raise ValueError(f"predictions and labels must be equal-length non-empty 1-D arrays, got {predictions.shape} and {labels.shape}.")
    size = int(max(predictions.max(), labels.max())) + 1
    counts = count_matrix(predictions, labels, size, size)
    clusters, matched_labels = linear_sum_assignment(counts, maximize=True)
    accuracy = counts[clusters, matched_labels].sum() / predictions.size
    return float(accuracy), {int(c): int(l) for c, l in zip(clusters, matched_labels)}


@torch.no_grad()
def mutual_information_lower_bound(
    image_generator: InfoGANGenerator,
    discriminator: InfoGANDiscriminator,
    num_samples: int = 10_000,
    batch_size: int = 500,
    generator: Optional[torch.Generator] = None,
) -> dict[str, float]:
    """L_I (equation 4) per code, in nats, on fresh samples: H(c) minus Q's cross entropy."""
    spec: LatentSpec = image_generator.latent_spec
    device = image_generator.device
    totals: Optional[torch.Tensor] = None
    prior = image_generator.categorical_prior() if spec.categorical_prior == "learned" else None
    for start in range(0, num_samples, batch_size):
        latents = spec.sample(min(batch_size, num_samples - start), generator=generator, device=device, categorical_probabilities=prior)
        q = discriminator.infer_codes(image_generator.generate(latents))
        terms = information_terms(spec, q, latents, categorical_probabilities=prior)
        bounds = torch.cat([terms.categorical_lower_bound, terms.continuous_lower_bound]) * latents.noise.shape[0]
        totals = bounds if totals is None else totals + bounds
    return {name: float(value) / num_samples for name, value in zip(spec.code_names, totals)}


@torch.no_grad()
def generated_classes(
    image_generator: InfoGANGenerator,
    classifier: torch.nn.Module,
    num_samples: int = 10_000,
    batch_size: int = 500,
    generator: Optional[torch.Generator] = None,
    class_names: Optional[Sequence[str]] = None,
) -> dict:
    """What each category draws, by an evaluation classifier's reading of generated images.

    Every code is sampled from its prior (a learned one included) and the classifier labels the
    images. Per categorical code: the category-by-class count matrix, the accuracy of the best
    one-to-one matching of categories to classes, NMI, Elastic-InfoGAN's ENT (the mean over
    categories of the entropy, in nats, of the classes it draws: 0 when each category draws one
    class) and, per category, the class it draws most and how often.
    """
    spec: LatentSpec = image_generator.latent_spec
    prior = image_generator.categorical_prior() if spec.categorical_prior == "learned" else None
    classifier = classifier.to(image_generator.device)
    categories, classes = [], []
    for start in range(0, num_samples, batch_size):
        latents = spec.sample(min(batch_size, num_samples - start), generator=generator, device=image_generator.device, categorical_probabilities=prior)
        classes.append(classifier.predict(image_generator.generate(latents).float()).cpu())
        categories.append(latents.categorical.cpu())
    categories, classes = torch.cat(categories).numpy(), torch.cat(classes).numpy()
    num_classes = classifier.layers[-1].out_features
    codes = {}
    for index, (name, size) in enumerate(zip(spec.code_names, spec.categorical_codes)):
        matrix = count_matrix(categories[:, index], classes, size, num_classes)
        accuracy, matching = clustering_accuracy(categories[:, index], classes)
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        entropies = -(shares * np.log(np.where(shares > 0, shares, 1))).sum(axis=1)
        drawn = [c for c in range(size) if matrix[c].sum()]
        codes[name] = {
            "matrix": matrix.tolist(), "accuracy": accuracy, "nmi": float(normalized_mutual_info_score(classes, categories[:, index])),
            "ent": float(entropies[drawn].mean()), "matching": matching,
            "draws": [{"category": c, "class": int(shares[c].argmax()), "share": float(shares[c].max()), "samples": int(matrix[c].sum()),
                       **({"class_name": class_names[int(shares[c].argmax())]} if class_names else {})} for c in drawn],
        }  # fmt: skip
    return {"num_samples": num_samples, "codes": codes}


def describe_generation(results: dict) -> list[str]:
    """Sentences for a card or a page from a results file's `generation` entry (empty without one)."""
    generation = results.get("generation")
    if not generation:
        return []
    lines = []
    for code, drawn in generation["codes"].items():
        lines.append(
            f"{code} on {generation['num_samples']} generated images, read by the {generation['classifier']} evaluation classifier "
            f"({100 * generation['classifier_test_accuracy']:.1f}% on its test set): the best matching of categories to classes "
            f"is right for {100 * drawn['accuracy']:.1f}%, NMI {drawn['nmi']:.3f}, ENT {drawn['ent']:.3f} nats"
        )
        draws = ", ".join(f"{draw['category']} draws {draw.get('class_name', draw['class'])} ({100 * draw['share']:.0f}%)" for draw in drawn["draws"])
        lines.append(f"{code}: {draws}")
    return lines


# A class or a category counts as merged into one of the other or split over several where its
# second part holds at least this share of it (the part of a class that a satellite category takes).
CLUSTERING_PART = 0.1


def clustering_errors(matrix: Sequence[Sequence[int]], part: float = CLUSTERING_PART) -> dict:
    """How Q's categories part from the classes, from a category-by-class count matrix: the
    categories holding two classes or more (`merged`: each class at least `part` of the category)
    and the classes held by two categories or more (`split`: each category at least `part` of the
    class), each with its parts' shares, largest first. A clean clustering has neither; an
    imbalanced split's failures are mostly one of each: two similar digits in one category, and a
    common digit over two."""
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.ndim != 2 or counts.size == 0 or (counts < 0).any():
        raise ValueError(f"A clustering matrix must be a non-empty 2-D array of counts (categories × classes), got shape {counts.shape}.")
    if not 0 < part <= 0.5:
        raise ValueError(f"part must be in (0, 0.5], got {part}.")

    def parts(row: np.ndarray) -> list[tuple[int, float]]:
        shares = row / row.sum() if row.sum() else row
        return [(int(index), float(shares[index])) for index in np.argsort(-shares, kind="stable") if shares[index] >= part]

    merged = [{"category": category, "classes": held} for category, row in enumerate(counts) if len(held := parts(row)) > 1]
    split = [{"class": label, "categories": held} for label, column in enumerate(counts.T) if len(held := parts(column)) > 1]
    return {"merged": merged, "split": split}


def describe_clustering(results: dict) -> list[str]:
    """Sentences for a card from a results file's `clustering` entry: the categories that hold two
    classes, the classes two categories hold, as `evaluate` recorded them (`clustering_errors`;
    nothing for runs measured before they were kept)."""
    clustering = results.get("clustering")
    lines = []
    for code, measured in (clustering or {}).get("codes", {}).items():
        if "merged" not in measured:
            continue
        merged = [f"category {entry['category']} holds " + " and ".join(f"{label} ({100 * share:.0f}%)" for label, share in entry["classes"]) for entry in measured["merged"]]
        split = [f"class {entry['class']} is split over categories " + " and ".join(f"{category} ({100 * share:.0f}%)" for category, share in entry["categories"])
                 for entry in measured["split"]]  # fmt: skip
        found = "; ".join(merged + split) or f"each category holds one class and each class one category (parts under {100 * CLUSTERING_PART:.0f}% aside)"
        lines.append(f"{code} on {clustering['dataset']}: {found}")
    return lines


def prior_total_variation(prior: Sequence[float], matching: Mapping[int, int], class_frequencies: Sequence[float]) -> float:
    """Total variation distance between a categorical code's prior and the data's class
    frequencies, with each category standing for the class it was matched to (unmatched
    categories count against a class frequency of 0, unmatched classes against a prior of 0).
    Entries of `matching` past the code's categories (`clustering_accuracy` matches a square table,
    so a code of fewer categories than classes gets clusters it does not have) are no match."""
    matching = {category: label for category, label in matching.items() if int(category) < len(prior)}
    matched_frequencies = np.zeros(len(prior))
    for category, label in matching.items():
        matched_frequencies[int(category)] = class_frequencies[int(label)]
    matched_classes = {int(label) for label in matching.values()}
    unmatched_classes = sum(f for label, f in enumerate(class_frequencies) if label not in matched_classes)
    return 0.5 * (float(np.abs(np.asarray(prior) - matched_frequencies).sum()) + unmatched_classes)


def category_usage(predictions: np.ndarray, num_categories: int) -> dict:
    """How evenly real images fall into a code's categories, with no labels: each category's share
    and the entropy of the shares (ln K when all are used equally).

    A category that holds two classes, or one left nearly empty, shows here as a share far from
    1/K, so this flags a failed run on data without labels.
    """
    shares = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_categories) / max(len(predictions), 1)
    used = shares[shares > 0]
    return {"shares": shares.tolist(), "entropy": float(-(used * np.log(used)).sum()), "min_share": float(shares.min()), "max_share": float(shares.max())}


@torch.no_grad()
def predict_categories(discriminator: InfoGANDiscriminator, dataset: ImageDataset, batch_size: int = 1000) -> torch.Tensor:
    """Q's most likely category for every image: `(N, num_categorical_codes)`."""
    predictions = []
    for start in range(0, len(dataset), batch_size):
        indices = torch.arange(start, min(start + batch_size, len(dataset)), device=dataset.images.device)
        q = discriminator.infer_codes(dataset.batch(indices).to(discriminator.device, discriminator.dtype))
        predictions.append(torch.stack([logits.argmax(dim=-1) for logits in q.categorical_logits], dim=1).cpu())
    return torch.cat(predictions)


@torch.no_grad()
def consistency_mutual_information(
    discriminator: InfoGANDiscriminator,
    dataset: ImageDataset,
    transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    num_images: int = 10_000,
    batch_size: int = 1000,
    seed: int = 0,
) -> float:
    """I(c; c') in nats (IIC's objective, Ji et al. 2019, equation 1) between Q's first categorical
    code for real images and for transformed copies of them: how consistently Q sorts real images,
    read without labels.

    It is H(c) - H(c | c'): high when every category is used and a copy lands where its image
    does. Two classes merged in one category lower H(c); a class split between two categories
    that its copies cross lowers it through H(c | c'). Used to choose among candidate runs.

    Args:
        discriminator ([`InfoGANDiscriminator`]): D and Q, read in eval mode.
        dataset ([`ImageDataset`]): real images; labels, if any, are not read.
        transform (`Callable`): `(images, generator) -> copies`, the identity-preserving transform
            (as the consistency term's: see `infogan_hub.augmentation`).
        num_images (`int`, defaults to 10000): a seeded random subset of this many (all if fewer).
        batch_size (`int`, defaults to 1000): images per forward pass.
        seed (`int`, defaults to 0): seed of the subset and of the transforms.
    """
    if not discriminator.latent_spec.categorical_codes:
        raise ValueError("consistency_mutual_information reads Q's first categorical code; this model has none.")
    was_training = discriminator.training
    discriminator.eval()
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(dataset), generator=generator)[:num_images].to(dataset.images.device)
    logits, copy_logits = [], []
    for start in range(0, len(chosen), batch_size):
        images = dataset.batch(chosen[start : start + batch_size]).to(discriminator.device, discriminator.dtype)
        logits.append(discriminator.infer_codes(images).categorical_logits[0].float())
        copy_logits.append(discriminator.infer_codes(transform(images, generator)).categorical_logits[0].float())
    discriminator.train(was_training)
    # the loss is -I(c; c') of the joint over all the images at once
    return -categorical_consistency_loss(torch.cat(logits), torch.cat(copy_logits)).item()


def evaluate(
    image_generator: InfoGANGenerator,
    discriminator: InfoGANDiscriminator,
    dataset: Optional[ImageDataset] = None,
    num_samples: int = 10_000,
    seed: int = 0,
    classifier: Optional[torch.nn.Module] = None,
) -> dict:
    """All measurements, as plain data for the results file.

    Args:
        image_generator, discriminator: the trained models (put in eval mode here).
        dataset ([`ImageDataset`], *optional*): real images: how evenly they use each category (no labels
            needed) and, where labelled, clustering accuracy, NMI and ARI.
        num_samples (`int`, defaults to 10000): fresh samples for the mutual information bound.
        seed (`int`, defaults to 0): seed of those samples.
        classifier (`EvaluationClassifier`, *optional*): an evaluation classifier (see
            `infogan_hub.classifier.load_classifier`): what each category draws, on as many samples.
    """
    was_training = image_generator.training, discriminator.training
    image_generator.eval(), discriminator.eval()
    spec = image_generator.latent_spec
    priors = image_generator.categorical_prior()  # one per categorical code; uniform unless learned
    results: dict = {
        "mutual_information_lower_bound": mutual_information_lower_bound(
            image_generator, discriminator, num_samples, generator=torch.Generator().manual_seed(seed)
        ),
        "categorical_entropy": dict(zip(spec.code_names, spec.categorical_entropy(priors))),
        "num_samples": num_samples,
    }
    if spec.categorical_prior == "learned":
        results["categorical_prior"] = {name: p.tolist() for name, p in zip(spec.code_names, priors)}
    if classifier is not None and spec.categorical_codes:
        drawn = generated_classes(image_generator, classifier, num_samples, generator=torch.Generator().manual_seed(seed),
                                  class_names=class_names(classifier.dataset_name))  # fmt: skip
        results["generation"] = {"classifier": classifier.dataset_name, "classifier_test_accuracy": classifier.test_accuracy} | drawn
    if dataset is not None and spec.categorical_codes:
        predictions = predict_categories(discriminator, dataset)
        categorical_names = spec.code_names[: spec.num_categorical_codes]
        results["category_usage"] = {
            "dataset": dataset.name,
            "codes": {name: category_usage(predictions[:, index].numpy(), size)
                      for index, (name, size) in enumerate(zip(categorical_names, spec.categorical_codes))},
        }  # fmt: skip
        if dataset.labels is not None:
            labels = dataset.labels.cpu().numpy()
            class_frequencies = np.bincount(labels) / labels.size
            accuracies = {}
            for index, (name, size) in enumerate(zip(categorical_names, spec.categorical_codes)):
                decided = predictions[:, index].numpy()
                accuracy, matching = clustering_accuracy(decided, labels)
                matrix = count_matrix(decided, labels, size, class_frequencies.size)
                accuracies[name] = {
                    "accuracy": accuracy,
                    "nmi": float(normalized_mutual_info_score(labels, decided)),
                    "ari": float(adjusted_rand_score(labels, decided)),
                    "matching": matching,
                    # how far the prior G samples categories from is from the classes they stand for
                    "prior_total_variation": prior_total_variation(priors[index].tolist(), matching, class_frequencies.tolist()),
                    # Q's category (rows) against the class (columns) of each image, and where they part
                    "matrix": matrix.tolist(),
                    **clustering_errors(matrix),
                }
            results["clustering"] = {
                "dataset": dataset.name, "num_images": len(dataset), "codes": accuracies, "class_frequencies": class_frequencies.tolist(),
            }  # fmt: skip
    image_generator.train(was_training[0]), discriminator.train(was_training[1])
    return results


def best_clustering_scores(results: dict) -> Optional[dict[str, float]]:
    """Accuracy, NMI and ARI of the categorical code with the highest clustering accuracy in a
    results dict, if measured."""
    codes = results.get("clustering", {}).get("codes", {}).values()
    best = max(codes, key=lambda code: code["accuracy"], default=None)
    return None if best is None else {metric: best[metric] for metric in ("accuracy", "nmi", "ari")}


def write_json(path: Path, value, sort_keys: bool = False) -> Path:
    """Writes `value` to `path` as indented JSON, whole or not at all: a reader, or a run killed while
    writing, never meets half a file. Makes the parent folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(json.dumps(value, indent=2, sort_keys=sort_keys))
    temporary.replace(path)
    return path


def write_results(results: dict, output_dir: Path) -> Path:
    return write_json(Path(output_dir) / RESULTS_FILE, results, sort_keys=True)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Measure what an InfoGAN's codes learned.")
    parser.add_argument("model", help="a saved InfoGANPipeline folder or Hub repo id")
    parser.add_argument("--dataset", default=None, help="labelled data set for clustering accuracy, e.g. mnist")
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", default=None,
                        help="evaluation classifier for what each category draws: mnist or fashion_mnist (default: the --dataset's, if built)")
    parser.add_argument("--output_dir", type=Path, default=None, help="where to write the results (default: the model folder)")
    args = parser.parse_args(argv)

    from .pipeline import InfoGANPipeline  # the pipeline module is only needed to load

    pipe = InfoGANPipeline.from_pretrained(args.model)
    if pipe.discriminator is None:
        raise SystemExit(f"{args.model} has no discriminator/Q head, so its codes cannot be measured.")
    dataset = None
    if args.dataset:
        config = pipe.discriminator.config
        dataset = load_dataset(args.dataset, "test", image_size=config.image_size, channels=config.channels)
    from .classifier import classifier_name, load_classifier

    classifier = None
    if args.classifier or (args.dataset and classifier_name(args.dataset)):
        try:
            classifier = load_classifier(args.classifier or args.dataset)
        except FileNotFoundError as error:
            if args.classifier:
                raise SystemExit(str(error)) from error
            print(f"Not measuring what each category draws: {error}")
    results = evaluate(pipe.image_generator, pipe.discriminator, dataset, args.num_samples, args.seed, classifier=classifier)
    output_dir = args.output_dir or (Path(args.model) if Path(args.model).is_dir() else Path("."))
    if (previous := output_dir / RESULTS_FILE).is_file():  # re-measuring a trained model keeps when it was trained
        recorded = json.loads(previous.read_text())
        results |= {key: recorded[key] for key in ("step", "elapsed_seconds") if key in recorded}
    print(json.dumps(results, indent=2))
    print(f"written to {write_results(results, output_dir)}")


if __name__ == "__main__":
    main()
