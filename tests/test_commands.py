"""Every command line prints its help: argparse formats each flag's help with %, so one stray % in a
help text (a share written as 2%) breaks `--help` for the whole command."""

import subprocess
import sys

import pytest

from .conftest import REPOSITORY

COMMANDS = [
    ["training/train.py"],
    ["training/study.py"],
    *[[str(path.relative_to(REPOSITORY))] for path in sorted((REPOSITORY / "benchmarks").glob("*.py"))],
    *[["-m", f"infogan_hub.{module}"] for module in ("hub", "space", "classifier", "analyze")],
    ["spaces_app/app.py"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[-1])
def test_help(command):
    result = subprocess.run([sys.executable, *command, "--help"], cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:")


def test_train_help_renders_the_shares():
    """The category checks' help names their least category share, rendered as a percentage."""
    result = subprocess.run([sys.executable, "training/train.py", "--help"], cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert "--category_recut_crossing" in result.stdout
    assert "% of the images" in " ".join(result.stdout.split())
