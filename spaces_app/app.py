"""Explore what an InfoGAN's latent codes learned: generate, traverse, encode.

    python spaces_app/app.py                      # the gallery: MODEL_IDS, else MODEL_ID, else pretrained/*
    python spaces_app/app.py --allow_local_paths  # local use: any folder or Hub repo may be typed in

Every control is derived from the loaded model's latent specification. The page keeps a bounded
pool of controls (MAX_CATEGORICAL_CODES dropdowns, MAX_CONTINUOUS_CODES sliders) and shows the
ones the model has, so the endpoints keep one signature whichever model is loaded.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network needed to serve the page

import gradio as gr
import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
import torchvision
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

from infogan_hub import InfoGANPipeline, LatentSpec
from infogan_hub.analyze import ANALYSIS_FILE, categorical_prior_charts
from infogan_hub.disentanglement import RESULTS_FILE as DISENTANGLEMENT_FILE
from infogan_hub.disentanglement import describe as describe_disentanglement
from infogan_hub.analyze import describe as describe_analysis
from infogan_hub.data import class_names
from infogan_hub.evaluation import RESULTS_FILE, describe_generation
from infogan_hub.hub import code_labels
from infogan_hub.latent import TRAINED_CONTINUOUS_RANGE, TRAVERSAL_CONTINUOUS_RANGE

REPOSITORY = Path(__file__).resolve().parents[1]
BUNDLED_MODELS = REPOSITORY / "pretrained"


def gallery_models() -> list[str]:
    """The models this app offers: `MODEL_IDS` (comma-separated Hub repo ids or folders, as a Space's
    settings give them), else `MODEL_ID`, else `gallery.json` beside the app (a published Space's,
    see `python -m infogan_hub.space`), else every pipeline bundled under pretrained/ (MNIST first)."""
    if configured := [model.strip() for model in os.environ.get("MODEL_IDS", os.environ.get("MODEL_ID", "")).split(",") if model.strip()]:
        return configured
    if (gallery := Path(__file__).with_name("gallery.json")).is_file():
        return json.loads(gallery.read_text())["models"]
    bundled = sorted(path.parent for path in BUNDLED_MODELS.glob("*/model_index.json"))
    return [str(path) for path in sorted(bundled, key=lambda path: path.name != "infogan-mnist")]


GALLERY = gallery_models()
DEFAULT_MODEL = GALLERY[0] if GALLERY else ""
# Hosted, the app loads only its gallery; run locally with --allow_local_paths (or ALLOW_LOCAL_PATHS=1)
# it loads any folder or Hub repo typed into the model box.
ALLOW_LOCAL_PATHS = os.environ.get("ALLOW_LOCAL_PATHS", "") == "1"
MAX_CATEGORICAL_CODES, MAX_CONTINUOUS_CODES = 10, 10
MAX_GRID_SIDE = 10  # a 10x10 grid: one request generates at most 100 images
MAX_TRAVERSAL_STEPS = 16
GRID_ROWS, GRID_COLUMNS = 4, 8  # the grid a model opens with
RANDOM = "random"
CELL_SCALE = 3  # upscale small images so the page shows them at a readable size


def check_model(model_id: Any) -> str:
    """`model_id` if this app may load it: one of its gallery, or anything when local paths are allowed."""
    model_id = str(model_id or "").strip()
    if not model_id:
        raise gr.Error(f"Choose a model: {GALLERY}." if not ALLOW_LOCAL_PATHS else "Give a Hub repo id (user/name) or a local folder holding a saved InfoGANPipeline.")
    if model_id not in GALLERY and not ALLOW_LOCAL_PATHS:
        raise gr.Error(f"{model_id!r} is not one of this app's models {GALLERY}; run the app locally with --allow_local_paths to load other folders or repos.")
    return model_id


def model_choice(model_id: str) -> tuple[str, str]:
    """A gallery entry: the model's name with its card's headline figure, and its id."""
    name = Path(model_id).name if Path(model_id).is_dir() else model_id
    results = read_measurements(model_id, RESULTS_FILE) or {}
    disentanglement = read_measurements(model_id, DISENTANGLEMENT_FILE)
    if accuracy := results.get("clustering", {}).get("codes", {}).get("categorical_0", {}).get("accuracy"):
        return f"{name} · clustering accuracy {100 * accuracy:.1f}% on {results['clustering']['dataset']}", model_id
    if disentanglement:
        return f"{name} · MIG {disentanglement['mig']:.2f}, FactorVAE {disentanglement['factor_vae']['score']:.2f} on {disentanglement['dataset']}", model_id
    return name, model_id


@functools.lru_cache(maxsize=4)
def load_pipeline(model_id: str) -> InfoGANPipeline:
    """The pipeline for a Hub repo id or local folder, with a message a person can act on."""
    model_id = check_model(model_id)
    try:
        pipe = InfoGANPipeline.from_pretrained(model_id)
    except Exception as error:  # any loading failure becomes a message in the page, not a traceback
        raise gr.Error(f"Could not load {model_id!r}: {type(error).__name__}: {str(error).splitlines()[0][:300]}") from error
    spec = pipe.latent_spec
    if spec.num_categorical_codes > MAX_CATEGORICAL_CODES or spec.continuous_codes > MAX_CONTINUOUS_CODES:
        raise gr.Error(
            f"{model_id} has {spec.num_categorical_codes} categorical and {spec.continuous_codes} continuous codes; "
            f"this app shows at most {MAX_CATEGORICAL_CODES} and {MAX_CONTINUOUS_CODES}."
        )
    return pipe


def _upscale(image: PIL.Image.Image) -> PIL.Image.Image:
    return image.resize((image.width * CELL_SCALE, image.height * CELL_SCALE), PIL.Image.Resampling.NEAREST)


def _grid(images: torch.Tensor, columns: int) -> PIL.Image.Image:
    """`(N, C, H, W)` images in [0, 1] as one upscaled grid, `columns` wide, on white padding."""
    return _upscale(torchvision.transforms.functional.to_pil_image(torchvision.utils.make_grid(images, nrow=columns, pad_value=1.0)))


def _noise_generator(seed: Any) -> torch.Generator:
    return torch.Generator().manual_seed(_check_int("seed", seed, 0, 2**31 - 1))


def _as_number(value: Any) -> float:
    """`value` as a float; NaN for what is not a number (None, "abc"), which every range check refuses."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    number = _as_number(value)
    if not (math.isfinite(number) and number.is_integer() and low <= number <= high):
        raise gr.Error(f"{name} must be a whole number from {low} to {high}, got {value!r}.")
    return int(number)


def _check_float(name: str, value: Any, low: float, high: float) -> float:
    number = _as_number(value)
    if not low <= number <= high:  # also false for NaN
        raise gr.Error(f"{name} must be a number from {low} to {high}, got {value!r}.")
    return number


def _codes_from_controls(spec: LatentSpec, controls: list[Any]) -> tuple[list[Optional[int]], list[float]]:
    categorical_controls, continuous_controls = controls[:MAX_CATEGORICAL_CODES], controls[MAX_CATEGORICAL_CODES:]
    categorical = []
    for index, size in enumerate(spec.categorical_codes):
        value = categorical_controls[index]
        categorical.append(None if value in (None, RANDOM) else _check_int(f"categorical_{index}", value, 0, size - 1))
    continuous = [_check_float(f"continuous_{index}", continuous_controls[index], *TRAVERSAL_CONTINUOUS_RANGE) for index in range(spec.continuous_codes)]
    return categorical, continuous


def _named(function, names: list[str]):
    """`function(*values)` with a signature naming each value, so the API shows (and accepts as
    keywords) `categorical_0`, `continuous_1`, ... instead of `param_4`."""

    @functools.wraps(function)
    def named(*args: Any, **kwargs: Any):
        return function(*args, *(kwargs[name] for name in names[len(args) :]))

    named.__signature__ = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    named.__annotations__ = {}
    return named


def generate(model_id: str, seed: float, rows: float, columns: float, *controls: Any) -> PIL.Image.Image:
    """A rows x columns grid: the chosen codes, a different noise sample in each cell."""
    pipe = load_pipeline(model_id)
    rows, columns = _check_int("rows", rows, 1, MAX_GRID_SIDE), _check_int("columns", columns, 1, MAX_GRID_SIDE)
    categorical, continuous = _codes_from_controls(pipe.latent_spec, list(controls))
    images = pipe(
        batch_size=rows * columns,
        categorical=categorical or None,
        continuous=continuous or None,
        generator=_noise_generator(seed),
        output_type="pt",
    ).images
    return _grid(images, columns)


def traverse(model_id: str, code: str, row_code: str, low: float, high: float, steps: float, seed: float):
    """The paper's Figure 2 grid for one code (and optionally a second down the rows), a caption
    naming its columns (a category with what it draws), a GIF, and both files."""
    pipe = load_pipeline(model_id)
    if code not in pipe.latent_spec.code_names:
        raise gr.Error(f"Choose a code of this model: {pipe.latent_spec.code_names}.")
    steps = _check_int("steps", steps, 2, MAX_TRAVERSAL_STEPS)
    low, high = _as_number(low), _as_number(high)
    if not (TRAVERSAL_CONTINUOUS_RANGE[0] <= low < high <= TRAVERSAL_CONTINUOUS_RANGE[1]):
        raise gr.Error(f"The range must satisfy {TRAVERSAL_CONTINUOUS_RANGE[0]} <= low < high <= {TRAVERSAL_CONTINUOUS_RANGE[1]}.")
    row_code = None if row_code in (None, "", "(noise samples)") else row_code
    try:
        traversal = pipe.traverse(
            code, row_code=row_code, steps=steps, value_range=(low, high), num_rows=5,
            generator=_noise_generator(seed), output_type="pt",
        )  # fmt: skip
    except ValueError as error:
        raise gr.Error(str(error)) from error
    grid = _upscale(traversal.grid)
    folder = Path(tempfile.mkdtemp(prefix="traversal-"))
    grid_path, gif_path = folder / f"traversal-{code}.png", folder / f"traversal-{code}.gif"
    grid.save(grid_path)
    # One GIF frame per column value: the whole column of the grid (all rows) at that value.
    columns = len(traversal.column_values)
    frames = traversal.images.view(-1, columns, *traversal.images.shape[1:]).transpose(0, 1)
    gif_frames = [_grid(frame, frame.shape[0]) for frame in frames]
    gif_frames[0].save(gif_path, save_all=True, append_images=gif_frames[1:] + gif_frames[-2:0:-1], duration=120, loop=0)
    named = category_labels(model_id)
    def column_name(value: float) -> str:  # a category's column says what it draws where that is measured
        drawn = named.get(code, {}).get(int(value)) if code.startswith("categorical") else None
        return f"{value:g} · {drawn}" if drawn else f"{value:g}"
    caption = f"columns: {code} = " + ", ".join(column_name(value) for value in traversal.column_values)
    return grid, caption, str(gif_path), [str(grid_path), str(gif_path)]


def mnist_style(image: PIL.Image.Image) -> PIL.Image.Image:
    """A drawing as MNIST shows digits: light strokes on black, the digit's box scaled to 20 pixels and centred."""
    gray = image.convert("L") if image.mode != "RGBA" else _flatten_rgba(image)
    array = np.asarray(gray, dtype=np.float32)
    if array.mean() > 127:  # dark strokes on a light background: invert
        gray = PIL.ImageOps.invert(gray)
    box = gray.point(lambda value: 255 if value > 30 else 0).getbbox()
    if box is None:
        raise gr.Error("The image is empty: draw or upload a digit.")
    digit = gray.crop(box)
    scale = 20 / max(digit.size)
    digit = digit.resize((max(1, round(digit.width * scale)), max(1, round(digit.height * scale))), PIL.Image.Resampling.LANCZOS)
    canvas = PIL.Image.new("L", (28, 28))
    canvas.paste(digit, ((28 - digit.width) // 2, (28 - digit.height) // 2))
    return canvas


def _flatten_rgba(image: PIL.Image.Image) -> PIL.Image.Image:
    """Transparent background becomes black, strokes keep their brightness (or opacity when dark)."""
    rgba = np.asarray(image, dtype=np.float32) / 255
    alpha = rgba[..., 3:]
    luminance = rgba[..., :3].mean(axis=-1, keepdims=True)
    strokes_are_dark = (luminance * alpha).sum() < (alpha.sum() / 2)
    value = alpha if strokes_are_dark else luminance * alpha
    return PIL.Image.fromarray((value[..., 0] * 255).astype(np.uint8))


def encode(model_id: str, image: Any, seed: float):
    """What Q infers from a drawn or uploaded image, and variations generated with those codes."""
    pipe = load_pipeline(model_id)
    if pipe.discriminator is None:
        raise gr.Error(f"{model_id} has no discriminator/Q head, so it cannot encode images.")
    if isinstance(image, dict):  # Sketchpad/ImageEditor value
        image = image.get("composite")
    if image is None:
        raise gr.Error("Draw or upload an image first.")
    if isinstance(image, (str, Path)):  # an uploaded file: only an image may pass
        try:
            with PIL.Image.open(image) as opened:
                image = opened.copy()
        except (PIL.UnidentifiedImageError, OSError) as error:
            raise gr.Error(f"{Path(image).name} is not an image this app can read; upload a PNG, JPEG, BMP, GIF or WebP file.") from error
    if not isinstance(image, PIL.Image.Image):
        image = PIL.Image.fromarray(np.asarray(image))
    if max(image.size) > 4096:
        raise gr.Error(f"The image is {image.width}x{image.height}; give one at most 4096 pixels on a side.")
    config = pipe.discriminator.config
    prepared = mnist_style(image) if config.channels == 1 else image.convert("RGB")
    prepared = prepared.resize((config.image_size, config.image_size))
    encoded = pipe.encode(prepared)
    spec = pipe.latent_spec
    named = category_labels(model_id)  # "categorical_0 = 4 · digit 7" where the model knows what 4 draws
    labels = {
        f"categorical_{index} = {value}" + (f" · {drawn}" if (drawn := named.get(f"categorical_{index}", {}).get(value)) else ""): float(probability)
        for index, probabilities in enumerate(encoded.categorical_probabilities)
        for value, probability in enumerate(probabilities[0].tolist())
    }
    continuous = {f"continuous_{index}": round(float(value), 4) for index, value in enumerate(encoded.continuous[0].tolist())}
    variations = pipe(
        batch_size=8,
        categorical=encoded.categorical[0].tolist() or None,
        continuous=encoded.continuous[0].clamp(*TRAVERSAL_CONTINUOUS_RANGE).tolist() or None,
        generator=_noise_generator(seed),
        output_type="pt",
    ).images
    codes = {"categorical": encoded.categorical[0].tolist(), "continuous": encoded.continuous[0].tolist()}
    return _upscale(prepared.convert("RGB")), labels if spec.categorical_codes else {}, continuous, _grid(variations, 8), codes


def codes_to_controls(codes: Optional[dict]) -> list:
    """The Generate tab's controls set to encoded codes (continuous ones clipped to the sliders'
    range): keep a drawn digit's style, then change its category or width there."""
    if not codes:
        raise gr.Error("Encode an image first; its codes are what the Generate tab receives.")
    categorical = [gr.update(value=str(value)) for value in codes["categorical"]]
    low, high = TRAVERSAL_CONTINUOUS_RANGE
    continuous = [gr.update(value=round(min(max(value, low), high), 2)) for value in codes["continuous"]]
    keep = gr.update()
    return [*categorical, *[keep] * (MAX_CATEGORICAL_CODES - len(categorical)), *continuous, *[keep] * (MAX_CONTINUOUS_CODES - len(continuous))]


def read_measurements(model_id: str, name: str) -> dict | None:
    """A measurement file (results, analysis) beside the model, in its folder or its Hub repo; None if it has none."""
    model_id = check_model(model_id)
    if Path(model_id).is_dir():
        path = Path(model_id) / name
        return json.loads(path.read_text()) if path.is_file() else None
    try:
        return json.loads(Path(hf_hub_download(model_id, name)).read_text())
    except (EntryNotFoundError, LocalEntryNotFoundError):  # a model without measurements still loads and plays
        return None


def describe(model_id: str) -> str:
    """The latent specification as a table, with the model's measured results when it has them."""
    pipe = load_pipeline(model_id)
    spec = pipe.latent_spec
    lines = [f"**Model:** `{model_id}`", "", "| code | kind | prior | size |", "| --- | --- | --- | --- |"]
    for index, size in enumerate(spec.categorical_codes):
        lines.append(f"| categorical_{index} | categorical | {spec.categorical_prior} | {size} |")
    for index in range(spec.continuous_codes):
        lines.append(f"| continuous_{index} | continuous | {spec.continuous_prior} | 1 |")
    lines.append(f"| noise | noise | {spec.noise_prior} | {spec.noise_dim} |")
    results = read_measurements(model_id, RESULTS_FILE)
    if charts := categorical_prior_charts(pipe, results):
        lines += ["", "**Learned prior** (how often each category is drawn):", ""] + [f"- {line}" for _, line in charts.values()]
    if results:
        lines += ["", "**Measured** (`evaluation_results.json`):", ""]
        for name, bound in results.get("mutual_information_lower_bound", {}).items():
            lines.append(f"- {name}: mutual information lower bound {bound:.3f} nats")
        for name, code in results.get("clustering", {}).get("codes", {}).items():
            lines.append(f"- {name}: clustering accuracy {100 * code['accuracy']:.1f}% on {results['clustering']['dataset']}")
        lines += [f"- {line}" for line in describe_generation(results)]
    if disentanglement := read_measurements(model_id, DISENTANGLEMENT_FILE):
        lines += ["", f"**Disentanglement on ground-truth factors** (`{DISENTANGLEMENT_FILE}`):", ""]
        lines += [f"- {line}" for line in describe_disentanglement(disentanglement)]
    if analysis := read_measurements(model_id, ANALYSIS_FILE):
        lines += ["", f"**What the continuous codes do** (`{ANALYSIS_FILE}`, within-sample correlations over a -2..2 traversal):", ""]
        lines += [f"- {sentence}" for sentence in describe_analysis(analysis)]
    return "\n".join(lines)


def prior_plot(model_id: str):
    """The first categorical code's learned prior as a chart, or a hidden plot for a uniform prior."""
    charts = categorical_prior_charts(load_pipeline(model_id), read_measurements(model_id, RESULTS_FILE))
    return gr.update(value=next(iter(charts.values()))[0], visible=True) if charts else gr.update(value=None, visible=False)


def category_labels(model_id: str) -> dict[str, dict[int, str]]:
    """What each category draws, per categorical code, from the model's measurements: by the
    evaluation classifier's reading of generated images, or else by Q's matching to labelled classes."""
    results = read_measurements(model_id, RESULTS_FILE) or {}
    if generation := results.get("generation"):
        return {code: {draw["category"]: draw.get("class_name", f"class {draw['class']}") for draw in drawn["draws"]}
                for code, drawn in generation["codes"].items()}  # fmt: skip
    clustering = results.get("clustering", {})
    names = class_names(clustering.get("dataset", ""))
    return {code: {int(category): names[int(label)] if names else f"class {label}" for category, label in measured.get("matching", {}).items()}
            for code, measured in clustering.get("codes", {}).items()}  # fmt: skip


def control_updates(model_id: str) -> list:
    """Show, label and bound the controls for the model's codes; hide the rest. A category's
    choice reads "4 · digit 7" where the measurements say what it draws; its value stays "4"."""
    spec = load_pipeline(model_id).latent_spec
    labels = category_labels(model_id)
    updates = []
    for index in range(MAX_CATEGORICAL_CODES):
        visible = index < spec.num_categorical_codes
        named = labels.get(f"categorical_{index}", {})
        choices = [RANDOM, *[(f"{k} · {named[k]}" if k in named else str(k), str(k)) for k in range(spec.categorical_codes[index])]] if visible else [RANDOM]
        updates.append(gr.update(visible=visible, choices=choices, value="0" if visible else RANDOM, label=f"categorical_{index}"))
    controls = code_labels(read_measurements(model_id, DISENTANGLEMENT_FILE), read_measurements(model_id, ANALYSIS_FILE))
    for index in range(MAX_CONTINUOUS_CODES):
        name = f"continuous_{index}"
        label = f"{name} · {controls[name]}" if name in controls else name
        updates.append(gr.update(visible=index < spec.continuous_codes, value=0.0, label=label))
    names = spec.code_names
    updates.append(gr.update(choices=names, value=names[-1] if spec.continuous_codes else names[0]))
    updates.append(gr.update(choices=["(noise samples)", *names], value=names[0] if spec.categorical_codes and spec.continuous_codes else "(noise samples)"))
    return updates


def build_demo(model_id: str = DEFAULT_MODEL) -> gr.Blocks:
    trained_low, trained_high = TRAINED_CONTINUOUS_RANGE
    # Controls start as the default model needs them; if it cannot load, the page says why on load.
    try:
        initial = [{key: value for key, value in update.items() if key != "__type__"} for update in control_updates(model_id)]
    except gr.Error:
        initial = [{} for _ in range(MAX_CATEGORICAL_CODES + MAX_CONTINUOUS_CODES + 2)]
    with gr.Blocks(title="InfoGAN latent explorer", analytics_enabled=False) as demo:
        gr.Markdown("# InfoGAN latent explorer\nEach control is one latent code of the model. "
                    f"Continuous codes were trained on [{trained_low}, {trained_high}]; the sliders go to "
                    f"{TRAVERSAL_CONTINUOUS_RANGE}, beyond the trained range, as in the paper's Figure 2.")  # fmt: skip
        with gr.Row():
            label = "Model (the gallery, a Hub repo id or a local folder)" if ALLOW_LOCAL_PATHS else "Model"
            choices = []
            for entry in GALLERY:
                try:
                    choices.append(model_choice(entry))
                except gr.Error:  # a gallery model that cannot be read is still listed; loading it says why
                    choices.append((entry, entry))
            model_box = gr.Dropdown(choices=choices, value=model_id, label=label, allow_custom_value=ALLOW_LOCAL_PATHS, scale=4, elem_id="model")
            load_button = gr.Button("Load", scale=1)
        summary = gr.Markdown()
        prior_chart = gr.Plot(label="learned prior", visible=False)
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate"):
                with gr.Row():
                    with gr.Column(scale=1):
                        # Values are checked against the loaded model's spec in `generate`, so any value may reach it.
                        categorical_controls = [
                            gr.Dropdown(**({"choices": [RANDOM], "value": RANDOM, "visible": False, "label": f"categorical_{i}"} | initial[i]),
                                        allow_custom_value=True, elem_id=f"categorical_{i}")
                            for i in range(MAX_CATEGORICAL_CODES)
                        ]
                        continuous_controls = [
                            gr.Slider(*TRAVERSAL_CONTINUOUS_RANGE, step=0.05, info=f"trained range {trained_low}..{trained_high}", elem_id=f"continuous_{i}",
                                      **({"value": 0.0, "visible": False, "label": f"continuous_{i}"} | initial[MAX_CATEGORICAL_CODES + i]))
                            for i in range(MAX_CONTINUOUS_CODES)
                        ]  # fmt: skip
                        with gr.Row():
                            seed = gr.Number(value=0, precision=0, minimum=0, label="noise seed")
                            reroll = gr.Button("Re-roll noise")
                        rows = gr.Slider(1, MAX_GRID_SIDE, value=GRID_ROWS, step=1, label="rows")
                        columns = gr.Slider(1, MAX_GRID_SIDE, value=GRID_COLUMNS, step=1, label="columns")
                    with gr.Column(scale=2):
                        generated = gr.Image(label="generated", type="pil", elem_id="generated-image", format="png")
            with gr.Tab("Traverse"):
                with gr.Row():
                    with gr.Column(scale=1):
                        traverse_code = gr.Dropdown(label="code across the columns", allow_custom_value=True, **initial[-2])
                        traverse_row_code = gr.Dropdown(label="code down the rows", allow_custom_value=True, **initial[-1])
                        low = gr.Number(value=TRAVERSAL_CONTINUOUS_RANGE[0], label="from (continuous codes)")
                        high = gr.Number(value=TRAVERSAL_CONTINUOUS_RANGE[1], label="to")
                        steps = gr.Slider(2, MAX_TRAVERSAL_STEPS, value=9, step=1, label="steps")
                        traverse_button = gr.Button("Traverse", variant="primary")
                    with gr.Column(scale=2):
                        traversal_grid = gr.Image(label="traversal", type="pil", format="png")
                        traversal_caption = gr.Markdown(elem_id="traversal-caption")
                        traversal_gif = gr.Image(label="animation", type="filepath")
                        traversal_files = gr.File(label="download", file_count="multiple")
            with gr.Tab("Encode"):
                with gr.Row():
                    with gr.Column(scale=1):
                        sketch = gr.Sketchpad(label="draw a digit", type="pil", image_mode="RGBA", canvas_size=(280, 280))
                        # a file, not an Image component: an upload that is not an image reaches `encode`, which says so
                        upload = gr.File(label="or upload an image", file_types=["image"], type="filepath", elem_id="upload")
                        encode_button = gr.Button("Encode", variant="primary")
                        edit_button = gr.Button("Edit these codes in Generate", elem_id="edit-in-generate")
                        encoded_codes = gr.State(None)
                    with gr.Column(scale=2):
                        seen = gr.Image(label="what Q sees", type="pil", format="png")
                        probabilities = gr.Label(label="categorical codes", num_top_classes=5)
                        continuous_values = gr.JSON(label="continuous codes (Q's means)")
                        variations = gr.Image(label="variations with these codes", type="pil", format="png")

        controls = [*categorical_controls, *continuous_controls]
        generate_inputs = [model_box, seed, rows, columns, *controls]
        load_outputs = [*controls, traverse_code, traverse_row_code]
        traversal_outputs = [traversal_grid, traversal_caption, traversal_gif, traversal_files]
        control_names = [f"categorical_{i}" for i in range(MAX_CATEGORICAL_CODES)] + [f"continuous_{i}" for i in range(MAX_CONTINUOUS_CODES)]

        def load(model: str):
            updates = control_updates(model)
            values = [update["value"] for update in updates[: len(controls)]]  # what the controls are reset to
            code, row_code = updates[-2]["value"], updates[-1]["value"]  # the Traverse tab opens on the model's default traversal
            return [describe(model), prior_plot(model), *updates, generate(model, 0, GRID_ROWS, GRID_COLUMNS, *values),
                    *traverse(model, code, row_code, *TRAVERSAL_CONTINUOUS_RANGE, 9, 0)]  # fmt: skip

        load_event = dict(fn=load, inputs=model_box, outputs=[summary, prior_chart, *load_outputs, generated, *traversal_outputs])
        demo.load(**load_event, api_name=False)
        load_button.click(**load_event, api_name="load_model")
        model_box.input(**load_event, api_name=False)  # choosing from the gallery loads the model
        gr.on([control.change for control in controls] + [seed.change, rows.release, columns.release],
              _named(generate, ["model_id", "seed", "rows", "columns", *control_names]), generate_inputs, generated,
              api_name="generate", trigger_mode="always_last")  # fmt: skip
        reroll.click(lambda: int(np.random.default_rng().integers(0, 2**31 - 1)), None, seed, api_name=False)
        traverse_button.click(traverse, [model_box, traverse_code, traverse_row_code, low, high, steps, seed], traversal_outputs, api_name="traverse")

        def encode_either(model: str, drawn: Any, uploaded: Any, noise_seed: float):
            has_drawing = isinstance(drawn, dict) and drawn.get("composite") is not None and np.asarray(drawn["composite"]).any()
            return encode(model, drawn if has_drawing or uploaded is None else uploaded, noise_seed)

        encode_button.click(encode_either, [model_box, sketch, upload, seed], [seen, probabilities, continuous_values, variations, encoded_codes], api_name="encode")
        edit_button.click(lambda codes: [*codes_to_controls(codes), gr.Tabs(selected="generate")], encoded_codes, [*controls, tabs], api_name=False)
    return demo


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The InfoGAN latent explorer; MODEL_IDS (or MODEL_ID) sets its gallery.")
    parser.add_argument("--allow_local_paths", action="store_true", help="also load any local folder or Hub repo typed into the model box (local use only)")
    ALLOW_LOCAL_PATHS = parser.parse_args().allow_local_paths or ALLOW_LOCAL_PATHS
    build_demo().queue(default_concurrency_limit=2, max_size=32).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    )
