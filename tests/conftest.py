"""Shared fixtures: small real models, the real MNIST cache, and the repository's paths."""

from __future__ import annotations

import os
import random
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ARTIFACTS = REPOSITORY / "test-artifacts"

# Small widths keep the tests quick; the architecture is the same as the presets'.
SMALL_ARCHITECTURE = {"hidden_dim": 64, "base_channels": 8}

# pytest-xdist runs the tests in parallel workers (`-n auto` in pyproject.toml): each takes its share of the
# cores, so two workers on two cores do not each start as many torch threads as there are cores. The Pythons a
# test starts take the same share (OMP_NUM_THREADS), as a sum taken over other threads can differ in its last
# bit, and some tests compare a child's images with this process's exactly.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    worker_threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = str(worker_threads)
    torch.set_num_threads(worker_threads)


def free_port() -> int:
    """A port on 127.0.0.1 no server holds now: the Space's tests and two-process runs each take their own,
    so parallel workers never meet on one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def same_random_state_for_every_test():
    """Each test starts from the same global random streams, so what it draws, and whether a bound holds, does not
    depend on which tests ran before it (a loss test's draw once failed in one order of tests in ten)."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def small_models():
    from infogan_hub import InfoGANDiscriminator, InfoGANGenerator

    torch.manual_seed(0)
    return (
        InfoGANGenerator(**SMALL_ARCHITECTURE).eval(),
        InfoGANDiscriminator(**SMALL_ARCHITECTURE, q_hidden_dim=16).eval(),
    )


@pytest.fixture
def small_pipeline(small_models):
    from infogan_hub import InfoGANPipeline

    image_generator, discriminator = small_models
    return InfoGANPipeline(image_generator=image_generator, discriminator=discriminator)


@pytest.fixture(scope="session")
def mnist_test():
    """The real MNIST test split from the data cache that `bash run.sh setup` fills."""
    from infogan_hub.data import load_dataset

    return load_dataset("mnist", "test")


def accelerate_env(**extra: str) -> dict[str, str]:
    """Environment for `accelerate launch` subprocesses: CPU, no trackers' network, this venv first."""
    env = dict(os.environ)
    env.update({"ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "PATH": f"{VENV_BIN}:{env.get('PATH', '')}"})
    env.update(extra)
    return env
