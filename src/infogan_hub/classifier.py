"""An evaluation classifier: a small CNN trained once on labelled images, to say what generated images show.

It is an instrument of measurement only: training never sees it or its labels. With it, each
category of a categorical code is described by what it draws ("categorical_0 = 4 draws digit 7
in 98% of samples"), not only by how Q reads real images.

    python -m infogan_hub.classifier build mnist fashion_mnist   # train and cache; prints test accuracy

The weights are cached beside the data (`data_cache_dir()/classifier-<name>.safetensors`) with their
test accuracy; `load_classifier` reads them (safetensors only) and says how to build them when absent.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .data import data_cache_dir, load_dataset

CLASSIFIER_DATASETS = ("mnist", "fashion_mnist")
BUILD_COMMAND = "python -m infogan_hub.classifier build"
# Data sets measured with another one's classifier: the imbalanced splits draw MNIST digits.
CLASSIFIER_FOR = {"mnist_imbalanced": "mnist"}


class EvaluationClassifier(nn.Module):
    """Two convolutions and two linear layers on 28x28 grayscale images in [-1, 1]; outputs class logits.

    Attributes set by `load_classifier`: `dataset_name` (what it was trained on) and
    `test_accuracy` (on that data set's test split).
    """

    dataset_name: Optional[str] = None
    test_accuracy: Optional[float] = None

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, num_classes),
        )  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The most likely class of each image, `(N,)`."""
        was_training = self.training
        self.eval()
        predictions = torch.cat([self(images[start : start + batch_size]).argmax(dim=1) for start in range(0, len(images), batch_size)])
        self.train(was_training)
        return predictions


def classifier_name(dataset_name: str) -> Optional[str]:
    """The classifier that measures images of `dataset_name` (e.g. `mnist/test`), or None."""
    base = dataset_name.split("/")[0]
    base = next((target for prefix, target in CLASSIFIER_FOR.items() if base.startswith(prefix)), base)
    return base if base in CLASSIFIER_DATASETS else None


def _weights_file(name: str) -> Path:
    return data_cache_dir() / f"classifier-{name}.safetensors"


def build_classifier(name: str, epochs: int = 4, batch_size: int = 128, seed: int = 0) -> tuple[Path, float]:
    """Trains the classifier for a built-in data set on its training split and caches it; returns
    the file and its accuracy on the test split."""
    if name not in CLASSIFIER_DATASETS:
        raise ValueError(f"Classifiers exist for {CLASSIFIER_DATASETS}, got {name!r}.")
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    torch.manual_seed(seed)
    model = EvaluationClassifier(int(train.labels.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * (len(train) // batch_size))
    order_generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=order_generator)
        for start in range(0, len(train) - batch_size + 1, batch_size):
            indices = order[start : start + batch_size]
            loss = F.cross_entropy(model(train.batch(indices)), train.labels[indices])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    accuracy = (model.predict(test.batch(torch.arange(len(test)))) == test.labels).float().mean().item()
    path = _weights_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".safetensors", delete=False) as file:
        temporary = file.name
    save_file(model.state_dict(), temporary, metadata={"test_accuracy": json.dumps(accuracy), "num_classes": str(model.layers[-1].out_features)})
    os.replace(temporary, path)
    return path, accuracy


def load_classifier(name: str) -> EvaluationClassifier:
    """The cached classifier for data set `name` (see `classifier_name`), in eval mode."""
    base = classifier_name(name)
    if base is None:
        raise ValueError(f"No evaluation classifier for {name!r}; they exist for {CLASSIFIER_DATASETS}.")
    path = _weights_file(base)
    if not path.is_file():
        raise FileNotFoundError(f"The {base} evaluation classifier is not cached ({path}); build it with `{BUILD_COMMAND} {base}`.")
    weights = load_file(path)
    model = EvaluationClassifier(weights["layers.11.bias"].shape[0])  # the last linear layer sizes the classes
    model.load_state_dict(weights)
    with safe_open(path, "pt") as file:
        model.test_accuracy = json.loads(file.metadata()["test_accuracy"])
    model.dataset_name = base
    return model.eval()


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Build the evaluation classifiers (an instrument of measurement; training never uses them).")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="train and cache classifiers")
    build.add_argument("names", nargs="*", default=list(CLASSIFIER_DATASETS), choices=CLASSIFIER_DATASETS)
    build.add_argument("--epochs", type=int, default=4)
    build.add_argument("--force", action="store_true", help="rebuild classifiers that are already cached")
    args = parser.parse_args(argv)
    for name in args.names:
        if _weights_file(name).is_file() and not args.force:
            print(f"{name}: already cached in {_weights_file(name)} (test accuracy {100 * load_classifier(name).test_accuracy:.2f}%)")
            continue
        path, accuracy = build_classifier(name, epochs=args.epochs)
        print(f"{name}: test accuracy {100 * accuracy:.2f}%, cached in {path}")


if __name__ == "__main__":
    main()
