import json

import pytest
import torch

from infogan_hub.analyze import analyze_continuous_codes, describe, measure


def _line(slope: float, thickness: int = 1) -> torch.Tensor:
    """A 28x28 line through the centre whose column moves `slope` pixels right per row upward."""
    image = torch.zeros(1, 1, 28, 28)
    for row in range(4, 24):
        column = round(14 - slope * (row - 14))
        image[0, 0, row, column : column + thickness] = 1.0
    return image


def test_slant_has_the_sign_of_the_lean_and_the_size_of_the_slope():
    slants = measure(torch.cat([_line(0.5), _line(0.0), _line(-0.5)]))["slant"]
    # a slope of 0.5 pixels per row is atan(0.5) = 26.6 degrees from vertical
    assert slants[0] == pytest.approx(26.6, abs=1.5) and slants[1] == pytest.approx(0, abs=1e-6) and slants[2] == pytest.approx(-26.6, abs=1.5)


def _ring(shear: float) -> torch.Tensor:
    """A round 0 (a circle of radius 8) whose rows shift `shear` pixels right per row upward."""
    rows, columns = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    upright_columns = columns - shear * (14 - rows)
    radius = ((rows - 14) ** 2 + (upright_columns - 14) ** 2).sqrt()
    return ((radius - 8).abs() < 1.5).float()[None, None]


def test_slant_of_a_round_digit_is_its_lean_not_its_longest_axis():
    # A sheared circle's longest axis lies near 45 degrees whatever the shear; its lean is atan(shear).
    slants = measure(torch.cat([_ring(0.3), _ring(0.0), _ring(-0.3)]))["slant"]
    assert slants[0] == pytest.approx(16.7, abs=1.5) and slants[1] == pytest.approx(0, abs=0.5) and slants[2] == pytest.approx(-16.7, abs=1.5)


def test_thicker_strokes_weigh_more_and_wider_shapes_measure_wider():
    measured = measure(torch.cat([_line(0.0, thickness=1), _line(0.0, thickness=4)]))
    assert measured["stroke_mass"][1] == pytest.approx(4 * measured["stroke_mass"][0])
    box = torch.zeros(2, 1, 28, 28)
    box[0, 0, 8:20, 12:16] = 1
    box[1, 0, 8:20, 6:22] = 1
    widths = measure(box)["width"]
    assert widths[1] > 3 * widths[0]


def test_analysis_reports_each_continuous_code(small_pipeline):
    analysis = analyze_continuous_codes(small_pipeline, values=[-2, 0, 2], num_samples=16)
    assert set(analysis["codes"]) == {"continuous_0", "continuous_1"}
    for code in analysis["codes"].values():
        assert set(code["correlations"]) == {"slant", "width", "stroke_mass"}
        assert all(-1 <= r <= 1 for r in code["correlations"].values())
        assert code["controls"] in code["correlations"] and len(code["mean_per_value"]["slant"]) == 3
    sentence = describe(analysis)[0]
    assert sentence.startswith("continuous_0 controls ") and all(f"{name} {r:+.2f}" in sentence for name, r in (
        ("slant", analysis["codes"]["continuous_0"]["correlations"]["slant"]),
        ("stroke mass", analysis["codes"]["continuous_0"]["correlations"]["stroke_mass"])))  # fmt: skip


def test_lower_bounds_are_read_per_step_and_plotted(tmp_path):
    from infogan_hub.analyze import plot_lower_bounds, read_lower_bounds

    for name, values in (("info", [0.5, 2.0, 2.2]), ("plain", [0.1, 0.2, 0.2])):
        (tmp_path / name).mkdir()
        lines = [json.dumps({"step": 50 * (i + 1), "lower_bound/categorical_0": v}) for i, v in enumerate(values)]
        lines.append(json.dumps({"step": 100, "lower_bound/categorical_0": 1.9}))  # a resumed run logs step 100 again
        (tmp_path / name / "metrics.jsonl").write_text("\n".join(lines))
    assert read_lower_bounds(tmp_path / "info", "categorical_0") == ([50, 100, 150], [0.5, 1.9, 2.2])
    figure = plot_lower_bounds({"InfoGAN": tmp_path / "info", "GAN": tmp_path / "plain"}, "categorical_0", 2.3026, tmp_path / "bound.png")
    assert figure.stat().st_size > 1000
