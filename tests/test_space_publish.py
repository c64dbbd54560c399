"""The Space as published: pushed to the local Hub server, downloaded into an empty folder, installed
into a fresh virtual environment from nothing but its requirements.txt, started, and driven with
gradio_client and a headless browser."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REPOSITORY, free_port
from .hub_server import HubServer
from .test_hub import TOKEN, USER, hub_env, run_client
from .test_space import BROWSER_FLAGS, serving

BUNDLED = REPOSITORY / "pretrained" / "infogan-mnist"


@pytest.fixture
def hub():
    with HubServer({TOKEN: USER}) as server:
        yield server


def test_a_published_space_installs_from_its_requirements_alone_and_serves_its_gallery(hub, tmp_path):
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    model = tmp_path / "infogan-mnist"
    shutil.copytree(BUNDLED, model)  # the push writes the card into the folder it uploads
    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(model)!r}, "user/infogan-mnist")
    """)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE"))} | hub_env(hub, tmp_path)
    pushed = subprocess.run([sys.executable, "-m", "infogan_hub.space", "push", "--space_id", "user/infogan-explorer",
                             "--models", "user/infogan-mnist", "--token", TOKEN], env=env, capture_output=True, text=True)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr[-3000:]

    space = tmp_path / "downloaded"
    run_client(hub, tmp_path, f"""
        from huggingface_hub import snapshot_download
        snapshot_download("user/infogan-explorer", repo_type="space", local_dir={str(space)!r})
    """)
    files = sorted(path.name for path in space.iterdir() if not path.name.startswith("."))
    assert files == ["README.md", "app.py", "gallery.json", "infogan_hub-0.1.0-py3-none-any.whl", "requirements.txt"]
    readme = (space / "README.md").read_text()
    assert readme.startswith("---\ntitle: InfoGAN latent explorer\n") and "sdk: gradio\n" in readme and "models:\n  - user/infogan-mnist\n---" in readme

    # a fresh environment from nothing but the Space's requirements.txt
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"], cwd=space, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]

    port = free_port()
    app_env = {"PATH": "/usr/bin:/bin", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", **hub_env(hub, tmp_path / "app")}
    process = subprocess.Popen([str(python), "app.py"], cwd=space, env=app_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with serving(process, port, timeout=180) as url:
        client = Client(url, verbose=False)
        summary, *_ = client.predict("user/infogan-mnist", api_name="/load_model")
        accuracy = json.loads((BUNDLED / "evaluation_results.json").read_text())["clustering"]["codes"]["categorical_0"]["accuracy"]
        assert "**Model:** `user/infogan-mnist`" in summary and f"clustering accuracy {100 * accuracy:.1f}% on mnist/test" in summary
        controls = {f"categorical_{i}": "random" for i in range(10)} | {f"continuous_{i}": 0.0 for i in range(10)}
        grid = client.predict(model_id="user/infogan-mnist", seed=1, rows=2, columns=3, **controls, api_name="/generate")
        assert os.path.getsize(grid) > 0
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_FLAGS)
            page = browser.new_page()
            page.goto(url)
            page.locator("#generated-image img").wait_for(timeout=90_000)
            # the gallery names the model with its card's headline figure
            assert page.locator("#model input").input_value() == f"user/infogan-mnist · clustering accuracy {100 * accuracy:.1f}% on mnist/test"
            browser.close()


def test_a_space_needs_models_and_a_new_folder(tmp_path):
    from infogan_hub.space import build_space

    with pytest.raises(ValueError, match="at least one model"):
        build_space(tmp_path / "space", [])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is not empty"):
        build_space(tmp_path / "full", ["user/model"])
