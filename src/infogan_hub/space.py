"""Publish the latent explorer as a Hugging Face Space, self-contained.

    python -m infogan_hub.space build FOLDER --models user/infogan-mnist user/infogan-fashion-mnist
    python -m infogan_hub.space push --space_id user/infogan-explorer --models user/infogan-mnist ...

`build` assembles a folder a Space runs as it is: `app.py` (this repository's `spaces_app/app.py`),
`gallery.json` (the models it offers), a README whose Spaces header lists them, and a
`requirements.txt` that installs everything, infogan-hub included as a wheel built from this
checkout and shipped in the folder. `push` builds into a temporary folder and uploads it as a
`space` repo with huggingface_hub (`HF_ENDPOINT` and the token as for any Hub call).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from huggingface_hub import HfApi

REPOSITORY = Path(__file__).resolve().parents[2]
APP = REPOSITORY / "spaces_app" / "app.py"
GALLERY_FILE = "gallery.json"
GRADIO_REQUIREMENT = "gradio==6.31.*"  # the version app.py is tested with (pyproject's `space` extra)


def build_space(folder: Path, models: Sequence[str], title: str = "InfoGAN latent explorer") -> Path:
    """Writes the Space's files into `folder` (created; must be empty if it exists) and returns it."""
    if not models:
        raise ValueError("A Space needs at least one model to offer: give Hub repo ids with --models.")
    if not APP.is_file() or not (REPOSITORY / "pyproject.toml").is_file():
        raise FileNotFoundError(f"{APP} is missing: build the Space from a checkout of infogan-hub, where spaces_app/ and pyproject.toml are.")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty; give a new folder for the Space.")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(APP, folder / "app.py")
    (folder / GALLERY_FILE).write_text(json.dumps({"models": list(models)}, indent=2) + "\n")
    # A wheel, not the source tree: pip installs it with its pinned dependencies, no manual step.
    # It is built from a copy of the package's sources, so the checkout gains no build/ folder.
    with tempfile.TemporaryDirectory() as sources:
        for name in ("pyproject.toml", "README.md", "src", "model_cards"):
            copy = shutil.copytree if (REPOSITORY / name).is_dir() else shutil.copy2
            copy(REPOSITORY / name, Path(sources) / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(folder.resolve()), sources],
            check=True,
        )
    wheel = next(folder.glob("infogan_hub-*.whl")).name
    (folder / "requirements.txt").write_text(f"./{wheel}\n{GRADIO_REQUIREMENT}\n")
    model_lines = "".join(f"  - {model}\n" for model in models)
    gradio_version = GRADIO_REQUIREMENT.split("==")[1].replace(".*", ".0")
    (folder / "README.md").write_text(
        f"---\ntitle: {title}\nemoji: 🎛️\ncolorFrom: indigo\ncolorTo: gray\nsdk: gradio\nsdk_version: {gradio_version}\n"
        f"app_file: app.py\npinned: false\nlicense: apache-2.0\nmodels:\n{model_lines}---\n\n"
        f"# {title}\n\nGenerate, traverse and encode with InfoGANs trained by infogan-hub. The gallery "
        f"(`{GALLERY_FILE}`; `MODEL_IDS` in the Space's settings overrides it):\n\n"
        + "".join(f"- [{model}](https://huggingface.co/{model})\n" for model in models)
        + "\nThe API is described in infogan-hub's `spaces_app/README.md`.\n"
    )
    return folder


def push_space(space_id: str, models: Sequence[str], token: Optional[str] = None, private: bool = False) -> str:
    """Builds the Space and uploads it; returns the commit's URL."""
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as staging:
        folder = build_space(Path(staging) / "space", models)
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=space_id, repo_type="space", folder_path=folder, commit_message=f"Space with {', '.join(models)}")
    return commit.commit_url


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the Space's folder")
    build.add_argument("folder", type=Path)
    push = commands.add_parser("push", help="build the Space and upload it to the Hub")
    push.add_argument("--space_id", required=True, help="user/name of the Space")
    push.add_argument("--token", default=None)
    push.add_argument("--private", action="store_true")
    for command in (build, push):
        command.add_argument("--models", nargs="+", required=True, help="Hub repo ids of the models the Space offers")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build_space(args.folder, args.models))
    else:
        print(push_space(args.space_id, args.models, token=args.token, private=args.private))


if __name__ == "__main__":
    main()
