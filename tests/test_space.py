"""The Space, as people and programs use it: the real app on 127.0.0.1, gradio_client, headless Chromium."""

import json
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline
from infogan_hub.analyze import ANALYSIS_FILE, analyze_continuous_codes

from .conftest import ARTIFACTS, REPOSITORY, SMALL_ARCHITECTURE, free_port

CONTROLS = 10 + 10  # the app's pool: categorical dropdowns, then continuous sliders
CELL = 30 * 3  # 28 pixels + 2 padding, shown 3x larger


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("space-model")
    torch.manual_seed(0)
    pipe = InfoGANPipeline(InfoGANGenerator(**SMALL_ARCHITECTURE).eval(), InfoGANDiscriminator(**SMALL_ARCHITECTURE).eval())
    pipe.save_pretrained(folder)
    results = {"mutual_information_lower_bound": {"categorical_0": 2.25}, "clustering": {"dataset": "mnist/test", "codes": {"categorical_0": {"accuracy": 0.951}}}}
    (folder / "evaluation_results.json").write_text(json.dumps(results))
    analysis = analyze_continuous_codes(pipe, values=[-2, 0, 2], num_samples=8)
    (folder / ANALYSIS_FILE).write_text(json.dumps(analysis))
    return folder


@contextmanager
def serve_app(model_id=None, hub_env=None, allow_local_paths=True, model_ids=None):
    """Starts spaces_app/app.py on a free port (MODEL_ID unset: the app's default); yields its URL.

    Offline unless `hub_env` points the Hub client somewhere (the tests' local Hub server). Most
    tests load folders of their own, as a local user may (ALLOW_LOCAL_PATHS=1); a hosted app may not."""
    port = free_port()
    env = {"GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin"} | (hub_env or {"HF_HUB_OFFLINE": "1"})
    if model_id is not None:
        env["MODEL_ID"] = model_id
    if model_ids is not None:
        env["MODEL_IDS"] = ",".join(model_ids)
    if allow_local_paths:
        env["ALLOW_LOCAL_PATHS"] = "1"
    process = subprocess.Popen([sys.executable, str(REPOSITORY / "spaces_app" / "app.py")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with serving(process, port) as url:
        yield url


@contextmanager
def serving(process: subprocess.Popen, port: int, timeout: float = 120):
    """Waits until the app `process` answers on `port`, yields its URL, then stops it."""
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert process.poll() is None, process.stdout.read().decode()[-3000:]
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, f"the app did not answer within {timeout:.0f} s"
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def app_url(model_dir):
    with serve_app(str(model_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _controls(categorical="0", continuous=0.0):
    return [categorical, *["random"] * 9, continuous, 0.0, *[0.0] * 8]


def test_the_api_has_one_endpoint_per_action(client):
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/load_model", "/generate", "/traverse", "/encode"}


def test_generate_returns_a_grid_of_the_asked_size(client, model_dir):
    path = client.predict(str(model_dir), 3, 2, 5, *_controls(), api_name="/generate")
    assert Image.open(path).size == (5 * CELL + 6, 2 * CELL + 6)


def test_controls_and_seed_decide_the_image(client, model_dir):
    def pixels(seed, categorical, continuous):
        return np.asarray(Image.open(client.predict(str(model_dir), seed, 1, 2, *_controls(categorical, continuous), api_name="/generate")))

    reference = pixels(1, "4", 0.5)
    assert np.array_equal(pixels(1, "4", 0.5), reference)
    assert not np.array_equal(pixels(2, "4", 0.5), reference)
    assert not np.array_equal(pixels(1, "5", 0.5), reference)
    assert not np.array_equal(pixels(1, "4", 2.0), reference)  # beyond the trained range is allowed


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((3, 11, 5, *_controls()), "greater than maximum value 10"),
        ((3, 2, 2, *_controls(categorical="12")), "categorical_0 must be a whole number from 0 to 9"),
        ((3, 2, 2, *_controls(continuous=2.5)), "greater than maximum value 2"),
        ((-1, 2, 2, *_controls()), "less than minimum value 0"),
    ],
)
def test_bad_inputs_get_messages_not_tracebacks(client, model_dir, arguments, message):
    with pytest.raises(Exception, match=message):
        client.predict(str(model_dir), *arguments, api_name="/generate")


def test_a_bad_model_id_gets_a_clear_message(client, tmp_path):
    with pytest.raises(Exception, match=r"Could not load '.*no-such-model'"):
        client.predict(str(tmp_path / "no-such-model"), api_name="/load_model")


def test_loading_a_model_shows_its_codes_and_measured_results(client, model_dir):
    summary, *updates = client.predict(str(model_dir), api_name="/load_model")
    assert "| categorical_0 | categorical | uniform | 10 |" in summary and "| continuous_1 | continuous | uniform | 1 |" in summary
    assert "clustering accuracy 95.1% on mnist/test" in summary
    assert "- continuous_0 controls " in summary and "- continuous_1 controls " in summary


def test_traverse_gives_a_grid_a_gif_and_downloads(client, model_dir):
    grid, caption, gif, files = client.predict(str(model_dir), "continuous_0", "categorical_0", -2, 2, 6, 0, api_name="/traverse")
    assert caption == "columns: continuous_0 = -2, -1.2, -0.4, 0.4, 1.2, 2"
    assert Image.open(grid).size == (6 * CELL + 6, 10 * CELL + 6)
    animation = Image.open(gif)
    assert animation.format == "GIF" and animation.n_frames == 6 + 4  # forth, then back without repeating the ends
    assert sorted(path.rsplit(".", 1)[1] for path in files) == ["gif", "png"]
    with pytest.raises(Exception, match="Choose a code of this model"):
        client.predict(str(model_dir), "continuous_7", "", -2, 2, 6, 0, api_name="/traverse")


def test_encode_reads_a_real_mnist_digit(client, model_dir, mnist_test, tmp_path):
    digit = tmp_path / "digit.png"
    Image.fromarray(mnist_test.images[0, 0].numpy()).resize((140, 140)).save(digit)
    seen, label, continuous, variations = client.predict(str(model_dir), None, handle_file(str(digit)), 0, api_name="/encode")
    assert Image.open(seen).size == (84, 84)
    confidences = [entry["confidence"] for entry in label["confidences"]]
    assert len(confidences) == 5 and confidences == sorted(confidences, reverse=True) and 0 < sum(confidences) <= 1.0001
    assert set(continuous) == {"continuous_0", "continuous_1"}
    assert Image.open(variations).size == (8 * CELL + 6, CELL + 6)
    with pytest.raises(Exception, match="empty"):
        blank = tmp_path / "blank.png"
        Image.new("L", (28, 28)).save(blank)
        client.predict(str(model_dir), None, handle_file(str(blank)), 0, api_name="/encode")


BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


def test_in_a_real_browser_moving_a_slider_changes_the_image(app_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        image = page.locator("#generated-image img")
        image.wait_for(timeout=60_000)
        before = image.get_attribute("src")
        page.locator("#continuous_0 input[type=range]").fill("1.5")
        page.wait_for_function("before => document.querySelector('#generated-image img').src !== before", arg=before, timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "space.png"), full_page=True)
        assert page.locator("#continuous_0 input[type=number]").input_value() == "1.5"
        browser.close()


def test_without_model_id_the_app_serves_the_bundled_mnist_model():
    """What `bash run.sh` shows on a fresh machine with no internet."""
    bundled = REPOSITORY / "pretrained" / "infogan-mnist"
    accuracy = json.loads((bundled / "evaluation_results.json").read_text())["clustering"]["codes"]["categorical_0"]["accuracy"]
    named = json.loads((bundled / ANALYSIS_FILE).read_text())["codes"]["continuous_0"]["controls"].replace("_", " ")
    draws = json.loads((bundled / "evaluation_results.json").read_text())["generation"]["codes"]["categorical_0"]["draws"]
    with serve_app() as url:
        summary, chart, *updates = Client(url, verbose=False).predict(api_name="/load_model")
    assert "pretrained/infogan-mnist" in summary and f"clustering accuracy {100 * accuracy:.1f}% on mnist/test" in summary
    # each category's choice says what it draws; its value stays the number
    assert updates[0]["choices"][1:] == [[f"{draw['category']} · digit {draw['class']}", str(draw["category"])] for draw in draws]
    assert f"- continuous_0 controls {named} " in summary


def test_a_learned_prior_is_listed_and_charted_and_a_uniform_one_is_not(client, model_dir, tmp_path):
    image_generator = InfoGANGenerator(**SMALL_ARCHITECTURE, categorical_prior="learned").eval()
    with torch.no_grad():
        image_generator.categorical_prior_logits.copy_(torch.tensor([0.3, 0.22] + [0.06] * 8).log())
    InfoGANPipeline(image_generator, InfoGANDiscriminator(**SMALL_ARCHITECTURE, categorical_prior="learned").eval()).save_pretrained(tmp_path)
    summary, chart, *updates = client.predict(str(tmp_path), api_name="/load_model")
    assert "| categorical_0 | categorical | learned | 10 |" in summary
    assert "- categorical_0: learned prior 0.300, 0.220, 0.060" in summary
    assert chart["visible"] and chart["value"]["type"] == "matplotlib" and chart["value"]["plot"].startswith("data:image/")
    summary, chart, *updates = client.predict(str(model_dir), api_name="/load_model")
    assert "| categorical_0 | categorical | uniform | 10 |" in summary and "Learned prior" not in summary
    assert not chart["visible"] and chart["value"] is None


def test_continuous_sliders_are_named_by_the_factor_they_lead_or_else_the_measurement_they_move(client, model_dir, tmp_path):
    import shutil

    from infogan_hub import dsprites
    from infogan_hub.disentanglement import RESULTS_FILE, disentanglement_scores

    # model_dir has the MNIST measurements (analysis_results.json): sliders say which one each code moves
    analysis = json.loads((model_dir / ANALYSIS_FILE).read_text())
    summary, chart, *updates = client.predict(str(model_dir), api_name="/load_model")
    sliders = updates[10:12]
    first = analysis["codes"]["continuous_0"]
    assert sliders[0]["label"] == f"continuous_0 · {first['controls'].replace('_', ' ')}, r = {first['correlations'][first['controls']]:+.2f}"

    # measured on ground-truth factors, the factor wins: continuous_0 holds position x here
    shutil.copytree(model_dir, tmp_path / "model")
    factors = dsprites.factor_indices(np.random.default_rng(0).choice(dsprites.NUM_IMAGES, 2000, replace=False))
    codes = np.stack([factors[:, 3] + np.random.default_rng(1).normal(0, 0.1, 2000), np.random.default_rng(2).normal(size=2000)], axis=1)
    results = disentanglement_scores(codes, factors, ["continuous_0", "continuous_1"], dsprites.FACTOR_NAMES, num_votes=50, dci_rows=300)
    (tmp_path / "model" / RESULTS_FILE).write_text(json.dumps(results))
    summary, chart, *updates = client.predict(str(tmp_path / "model"), api_name="/load_model")
    gap = results["codes"]["continuous_0"]["gap"]
    assert updates[10]["label"] == f"continuous_0 · position x, MIG gap {gap:.2f}" and gap > 0.5
    assert "**Disentanglement on ground-truth factors**" in summary and "- continuous_0 controls position x" in summary


def test_the_generate_endpoint_names_its_parameters_and_takes_them_by_name(client, model_dir):
    parameters = [p["parameter_name"] for p in client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/generate"]["parameters"]]
    assert parameters == ["model_id", "seed", "rows", "columns", *[f"categorical_{i}" for i in range(10)], *[f"continuous_{i}" for i in range(10)]]
    by_position = client.predict(str(model_dir), 3, 1, 2, *_controls("4", 0.5), api_name="/generate")
    controls = dict(zip(parameters[4:], _controls("4", 0.5)))
    by_name = client.predict(model_id=str(model_dir), seed=3, rows=1, columns=2, **controls, api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(by_position)), np.asarray(Image.open(by_name)))


@pytest.mark.parametrize(
    "categorical, continuous, message",
    [
        ("abc", 0.0, "categorical_0 must be a whole number from 0 to 9, got 'abc'"),
        ("2.5", 0.0, "categorical_0 must be a whole number from 0 to 9, got '2.5'"),
        ("-1", 0.0, "categorical_0 must be a whole number from 0 to 9, got '-1'"),
    ],
)
def test_values_that_are_not_numbers_get_what_is_allowed(client, model_dir, categorical, continuous, message):
    with pytest.raises(Exception, match=message):
        client.predict(str(model_dir), 3, 1, 1, *_controls(categorical, continuous), api_name="/generate")


def test_an_upload_that_is_not_an_image_is_refused_with_what_is_accepted(client, model_dir, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(Exception, match="notes.png is not an image this app can read; upload a PNG, JPEG"):
        client.predict(str(model_dir), None, handle_file(str(text)), 0, api_name="/encode")


def test_loading_a_model_opens_the_traverse_tab_on_a_traversal(client, model_dir):
    *_, grid, caption, gif, files = client.predict(str(model_dir), api_name="/load_model")
    # the default: continuous_1 across 9 columns, categorical_0's 10 categories down the rows
    assert Image.open(grid).size == (9 * CELL + 6, 10 * CELL + 6) and Image.open(gif).format == "GIF" and len(files) == 2


def test_in_a_real_browser_an_encoded_digit_s_codes_go_to_the_generate_tab(app_url, client, model_dir, mnist_test, tmp_path):
    from playwright.sync_api import sync_playwright

    digit = tmp_path / "digit.png"
    Image.fromarray(mnist_test.images[3, 0].numpy()).resize((112, 112)).save(digit)
    _, label, continuous, _ = client.predict(str(model_dir), None, handle_file(str(digit)), 0, api_name="/encode")
    category = label["label"].split(" = ")[1].split(" · ")[0]  # Q's most likely category, "categorical_0 = 7"
    assert category != "0" and round(continuous["continuous_0"], 2) != 0, "values the controls do not start with, so a change shows"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        page.locator("#generated-image img").wait_for(timeout=60_000)
        page.get_by_role("tab", name="Encode").click()
        page.locator("#upload input[type=file]").set_input_files(str(digit))
        page.get_by_role("button", name="Encode", exact=True).click()
        page.get_by_text("variations with these codes").wait_for(timeout=60_000)
        page.wait_for_timeout(2_000)  # the encode event stores the codes when it returns
        page.locator("#edit-in-generate").click()
        slider = page.locator("#continuous_0 input[type=number]")
        expected = f"{round(continuous['continuous_0'], 2):g}"
        page.wait_for_function("([value]) => document.querySelector('#continuous_0 input[type=number]').value === value", arg=[expected], timeout=60_000)
        assert slider.is_visible(), "the Generate tab is shown"
        assert page.locator("#categorical_0 input").input_value().split(" · ")[0] == category
        browser.close()


def test_a_hosted_app_offers_its_gallery_with_headline_figures_and_refuses_other_paths(model_dir, tmp_path):
    bundled = REPOSITORY / "pretrained" / "infogan-mnist"
    accuracy = json.loads((bundled / "evaluation_results.json").read_text())["clustering"]["codes"]["categorical_0"]["accuracy"]
    gallery = [str(bundled), str(model_dir)]
    with serve_app(allow_local_paths=False, model_ids=gallery) as url:
        client = Client(url, verbose=False)
        summary, chart, *updates = client.predict(str(model_dir), api_name="/load_model")  # the second model of the gallery
        assert f"`{model_dir}`" in summary
        # the model box offers the gallery only, and Gradio refuses other values naming the allowed ones
        with pytest.raises(Exception, match=rf"{tmp_path} is not in the list of choices: \['{bundled}', '{model_dir}'\]"):
            client.predict(str(tmp_path), api_name="/load_model")
        with pytest.raises(Exception, match="/etc is not in the list of choices"):
            client.predict("/etc", 0, 1, 1, *_controls(), api_name="/generate")
        config = json.loads(urllib.request.urlopen(f"{url}config", timeout=10).read())
    dropdown = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "model")["props"]
    assert dropdown["choices"] == [[f"infogan-mnist · clustering accuracy {100 * accuracy:.1f}% on mnist/test", str(bundled)],
                                   [f"{model_dir.name} · clustering accuracy 95.1% on mnist/test", str(model_dir)]]  # fmt: skip
    assert dropdown["allow_custom_value"] is False


def test_behind_the_model_box_the_app_itself_loads_and_reads_only_its_gallery(monkeypatch, model_dir):
    import importlib.util

    import gradio as gr

    spec = importlib.util.spec_from_file_location("space_app", REPOSITORY / "spaces_app" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    monkeypatch.setattr(app, "GALLERY", [str(model_dir)])
    monkeypatch.setattr(app, "ALLOW_LOCAL_PATHS", False)
    assert app.check_model(f" {model_dir} ") == str(model_dir)
    for call in (lambda: app.load_pipeline("/etc"), lambda: app.read_measurements("/etc", "passwd")):
        with pytest.raises(gr.Error, match=r"'/etc' is not one of this app's models .* run the app locally with --allow_local_paths"):
            call()
    monkeypatch.setattr(app, "ALLOW_LOCAL_PATHS", True)
    assert app.check_model("/elsewhere") == "/elsewhere"


def test_categories_say_what_they_draw_in_the_encode_tab_and_the_traversal_columns(mnist_test, tmp_path):
    import importlib.util

    bundled = REPOSITORY / "pretrained" / "infogan-mnist"
    draws = {draw["category"]: f"digit {draw['class']}" for draw in json.loads((bundled / "evaluation_results.json").read_text())["generation"]["codes"]["categorical_0"]["draws"]}
    digit = tmp_path / "digit.png"
    Image.fromarray(mnist_test.images[0, 0].numpy()).save(digit)
    with serve_app() as url:
        _, label, _, _ = Client(url, verbose=False).predict(str(bundled), None, handle_file(str(digit)), 0, api_name="/encode")
    category = int(label["label"].split(" = ")[1].split(" · ")[0])
    assert label["label"] == f"categorical_0 = {category} · {draws[category]}"
    assert all(" · digit " in entry["label"] for entry in label["confidences"])

    spec = importlib.util.spec_from_file_location("space_app", REPOSITORY / "spaces_app" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    _, caption, _, _ = app.traverse(str(bundled), "categorical_0", "(noise samples)", -2, 2, 9, 0)
    assert caption == "columns: categorical_0 = " + ", ".join(f"{k} · {draws[k]}" for k in range(10))
