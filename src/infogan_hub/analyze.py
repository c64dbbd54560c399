"""What each continuous code controls, measured rather than eyeballed.

For each continuous code, the generator draws the same noise and other codes at a range of values
of that code; each image is measured from its moments (slant, width) and its ink (stroke mass),
and the within-sample correlation of the code's value with each measurement names the code.

    python -m infogan_hub.analyze OUTPUT_DIR

writes `OUTPUT_DIR/analysis_results.json`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

import torch

from .evaluation import METRICS_FILE, write_json
from .latent import TRAVERSAL_CONTINUOUS_RANGE
from .pipeline import InfoGANPipeline

ANALYSIS_FILE = "analysis_results.json"
LOWER_BOUND_FIGURE = "images/lower_bound.png"  # relative to the model folder; the card shows it
MEASUREMENTS = ("slant", "width", "stroke_mass")


def measure(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image measurements of `(N, 1, H, W)` images in [0, 1] (ink is bright, as in MNIST).

    - slant: how far the digit leans from upright, in degrees: the angle of the line that best
      predicts each ink row's column from its height (second central moments, as MNIST's deskewing
      uses); positive leaning right (like /), negative leaning left. Unlike the principal axis, it
      stays defined for round digits such as 0 and 8.
    - width: the ink's horizontal standard deviation, in pixels.
    - stroke_mass: the mean ink per pixel.
    """
    ink = images[:, 0].double()
    height, width = ink.shape[-2:]
    rows = torch.arange(height, dtype=torch.float64).view(1, height, 1)
    columns = torch.arange(width, dtype=torch.float64).view(1, 1, width)
    mass = ink.sum(dim=(1, 2)).clamp_min(1e-8)
    mean_row = (ink * rows).sum(dim=(1, 2)) / mass
    mean_column = (ink * columns).sum(dim=(1, 2)) / mass
    row_offsets, column_offsets = rows - mean_row.view(-1, 1, 1), columns - mean_column.view(-1, 1, 1)
    mu11 = (ink * row_offsets * column_offsets).sum(dim=(1, 2)) / mass
    mu02 = (ink * row_offsets**2).sum(dim=(1, 2)) / mass
    mu20 = (ink * column_offsets**2).sum(dim=(1, 2)) / mass
    # Columns drift left going down a right-leaning digit: rows grow downward, so the shear is -mu11/mu02.
    shear = -mu11 / mu02.clamp_min(1e-8)
    return {
        "slant": torch.rad2deg(torch.atan(shear)),
        "width": mu20.sqrt(),
        "stroke_mass": ink.mean(dim=(1, 2)),
    }


def _centre_per_sample(parts: list[torch.Tensor]) -> torch.Tensor:
    """`parts[v][i]` is sample i at value v; subtract each sample's mean over the values."""
    stacked = torch.stack(parts)
    return (stacked - stacked.mean(dim=0, keepdim=True)).flatten()


def _correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-12))


@torch.no_grad()
def analyze_continuous_codes(
    pipe: InfoGANPipeline,
    values: Optional[Sequence[float]] = None,
    num_samples: int = 200,
    seed: int = 0,
) -> dict:
    """Correlation of each continuous code with each measurement, and the name it earns.

    Args:
        pipe ([`InfoGANPipeline`]): a grayscale model.
        values (`Sequence[float]`, *optional*): the code values; by default 9 from -2 to 2.
        num_samples (`int`, defaults to 200): noise and other codes drawn once and held fixed.
        seed (`int`, defaults to 0).
    """
    spec = pipe.latent_spec
    if pipe.image_generator.config.channels != 1:
        raise ValueError("The moment measurements are defined for grayscale images.")
    values = list(values) if values is not None else torch.linspace(*TRAVERSAL_CONTINUOUS_RANGE, 9).tolist()
    base = spec.prepare(num_samples, generator=torch.Generator().manual_seed(seed), device=pipe.device)
    codes = {}
    for index, name in enumerate(spec.code_names[spec.num_categorical_codes :]):
        code_values, measured = [], {key: [] for key in MEASUREMENTS}
        for value in values:
            continuous = base.continuous.clone()
            continuous[:, index] = value
            images = pipe(num_samples, noise=base.noise, categorical=base.categorical, continuous=continuous, output_type="pt").images
            for key, measurement in measure(images.cpu()).items():
                measured[key].append(measurement)
            code_values.append(torch.full((num_samples,), float(value), dtype=torch.float64))
        # Within-sample correlation: each sample's measurements are centred over the traversal, so
        # the differences between digits (which the code does not control) do not drown its effect.
        x = torch.cat(code_values)
        correlations = {key: _correlation(x, _centre_per_sample(parts)) for key, parts in measured.items()}
        means = {key: [float(part.mean()) for part in parts] for key, parts in measured.items()}
        strongest = max(correlations, key=lambda key: abs(correlations[key]))
        codes[name] = {
            "correlations": correlations,
            "mean_per_value": means,
            "controls": strongest,
            "direction": "increases" if correlations[strongest] > 0 else "decreases",
        }
    return {"values": values, "num_samples": num_samples, "seed": seed, "codes": codes}


def describe(analysis: dict) -> list[str]:
    """One sentence per code naming what it controls, with its correlation with every measurement, e.g.
    "continuous_0 controls slant (r = +0.93; increases with the code). All: slant +0.93, width -0.10, stroke mass +0.05"."""
    sentences = []
    for name, code in analysis["codes"].items():
        strongest = code["controls"]
        every = ", ".join(f"{key.replace('_', ' ')} {value:+.2f}" for key, value in code["correlations"].items())
        sentences.append(
            f"{name} controls {strongest.replace('_', ' ')} (r = {code['correlations'][strongest]:+.2f}; "
            f"{code['direction']} with the code). All: {every}"
        )
    return sentences


def code_labels(analysis: dict) -> dict[str, str]:
    """Each continuous code named by the measurement it moves most: {"continuous_0": "slant, r = +0.93"}."""
    return {name: f"{code['controls'].replace('_', ' ')}, r = {code['correlations'][code['controls']]:+.2f}" for name, code in analysis["codes"].items()}


def read_lower_bounds(run_dir: Path, code: str) -> tuple[list[int], list[float]]:
    """L_I of `code` at each logged step of a training run, from its metrics file."""
    bounds = {}
    for line in (Path(run_dir) / METRICS_FILE).read_text().splitlines():
        record = json.loads(line)
        if f"lower_bound/{code}" in record:  # a resumed run logs some steps twice: keep the last
            bounds[record["step"]] = record[f"lower_bound/{code}"]
    steps = sorted(bounds)
    return steps, [bounds[step] for step in steps]


def plot_lower_bounds(runs: dict[str, Path], code: str, entropy: float, path: Path) -> Path:
    """The paper's Figure 1: L_I over training for each run, against H(c)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit("Plotting needs matplotlib: pip install matplotlib") from error
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=120)
    for label, run_dir in runs.items():
        steps, bounds = read_lower_bounds(run_dir, code)
        axes.plot(steps, bounds, label=label)
    axes.axhline(entropy, color="gray", linestyle="--", label=f"H(c) = {entropy:.2f} nats")
    axes.set(xlabel="training step", ylabel=f"L_I of {code} (nats)", ylim=(min(0, axes.get_ylim()[0]), entropy * 1.1))
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def categorical_prior_charts(pipe: InfoGANPipeline, results: Optional[dict] = None) -> dict:
    """For a model with a learned categorical prior, per code: a bar chart of its probabilities,
    beside the frequency of the class each category was matched to where the results hold a
    labelled evaluation, and a line with the figures. Empty for a uniform prior."""
    if pipe.latent_spec.categorical_prior != "learned":
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clustering = (results or {}).get("clustering", {})
    charts = {}
    for code, prior in zip(pipe.latent_spec.code_names, pipe.categorical_prior()):
        measured = clustering.get("codes", {}).get(code)
        positions = torch.arange(len(prior)).numpy()
        figure, axes = plt.subplots(figsize=(6, 3), dpi=120)
        width = 0.4 if measured else 0.8
        axes.bar(positions - (width / 2 if measured else 0), prior.numpy(), width, label="learned prior")
        line = f"{code}: learned prior " + ", ".join(f"{value:.3f}" for value in prior.tolist())
        if measured:
            frequencies = clustering["class_frequencies"]
            matched = {int(category): int(label) for category, label in measured["matching"].items()}
            axes.bar(positions + width / 2, [frequencies[matched[c]] if c in matched else 0 for c in positions], width,
                     label=f"frequency of the matched class in {clustering['dataset']}")  # fmt: skip
            axes.set_xticks(positions, [f"{c}\n({matched[c]})" if c in matched else str(c) for c in positions])
            line += f"; total variation from the matched classes' frequencies {measured['prior_total_variation']:.3f}"
        axes.set(xlabel=f"{code} (matched class)" if measured else code, ylabel="probability")
        axes.legend(fontsize="small")
        figure.tight_layout()
        plt.close(figure)  # the caller saves or shows it; pyplot need not keep it
        charts[code] = (figure, line)
    return charts


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Measure what each continuous code of a saved InfoGAN controls.")
    parser.add_argument("model", help="a saved InfoGANPipeline folder or Hub repo id")
    parser.add_argument("--num_samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", type=Path, default=None, help="where to write the results (default: the model folder)")
    parser.add_argument("--compare_run", type=Path, default=None,
                        help="a training run to compare L_I with, e.g. the plain GAN (--info_weight 0): writes images/lower_bound.png")  # fmt: skip
    args = parser.parse_args(argv)
    pipe = InfoGANPipeline.from_pretrained(args.model)
    analysis = analyze_continuous_codes(pipe, num_samples=args.num_samples, seed=args.seed)
    output_dir = args.output_dir or (Path(args.model) if Path(args.model).is_dir() else Path("."))
    path = write_json(output_dir / ANALYSIS_FILE, analysis)
    print("\n".join(describe(analysis)))
    print(f"written to {path}")
    if args.compare_run is not None and pipe.latent_spec.categorical_codes:
        (output_dir / LOWER_BOUND_FIGURE).parent.mkdir(exist_ok=True)
        runs = {"InfoGAN": output_dir, f"plain GAN ({args.compare_run.name})": args.compare_run}
        figure = plot_lower_bounds(runs, "categorical_0", pipe.latent_spec.categorical_entropy()[0], output_dir / LOWER_BOUND_FIGURE)
        print(f"written to {figure}")


if __name__ == "__main__":
    main()
