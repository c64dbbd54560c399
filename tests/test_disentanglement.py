import json

import numpy as np
import pytest

from infogan_hub import dsprites
from infogan_hub.disentanglement import (
    dci,
    disentanglement_scores,
    factor_vae_score,
    mutual_information_gap,
    mutual_information_matrix,
)


def _factors(count=3000, seed=0):
    random = np.random.default_rng(seed)
    indices = dsprites.factor_indices(random.choice(dsprites.NUM_IMAGES, count, replace=False))
    values = np.stack([values[indices[:, i]] for i, values in enumerate(dsprites.factor_values())], axis=1)
    return indices, values


def test_the_true_factors_score_near_the_top_of_every_metric():
    indices, values = _factors()
    scores = disentanglement_scores(values, indices, dsprites.FACTOR_NAMES, dsprites.FACTOR_NAMES, num_votes=200, dci_rows=1000)
    # MIG: 20 bins keep ln 20 of orientation's ln 40 nats and of positions' ln 32, so the top is 0.91
    assert scores["mig"] > 0.85
    assert scores["factor_vae"]["score"] > 0.95
    assert scores["dci"]["disentanglement"] > 0.95 and scores["dci"]["completeness"] > 0.95
    assert scores["dci"]["informativeness"] > 0.9
    assert all(entry["factor"] == code and entry["leads_factor"] for code, entry in scores["codes"].items())


def test_random_codes_score_near_zero_and_factor_vae_near_chance():
    indices, _ = _factors()
    codes = np.random.default_rng(1).normal(size=(len(indices), 5))
    scores = disentanglement_scores(codes, indices, [f"c{i}" for i in range(5)], dsprites.FACTOR_NAMES, num_votes=200, dci_rows=1000)
    assert scores["mig"] < 0.02
    assert scores["dci"]["disentanglement"] < 0.1 and scores["dci"]["completeness"] < 0.1
    # a majority vote on noise is right for about one factor in five: FactorVAE's floor is chance, not 0
    assert scores["factor_vae"]["score"] < 0.35
    json.dumps(scores)  # the results file is plain JSON


def test_one_code_holding_two_factors_has_a_small_gap_and_its_matrix_shows_both():
    indices, values = _factors()
    mixed = np.stack([values[:, 3] + 2 * values[:, 4], values[:, 1], np.random.default_rng(2).normal(size=len(values))], axis=1)
    information = mutual_information_matrix(mixed, indices)
    assert information[0, 3] > 0.3 and information[0, 4] > 0.3  # code 0 tells about x and y
    # noise shares nothing, up to the plug-in estimator's bias, about (bins - 1)(values - 1) / 2N = 0.12 nats for orientation
    assert information[2].max() < 0.15
    gap = mutual_information_gap(mixed, indices)
    assert gap["per_factor"][1] > 0.9 and gap["per_factor"][0] < 0.05  # scale held alone; shape by none


def test_metrics_refuse_mismatched_inputs_with_what_they_need():
    with pytest.raises(ValueError, match="one row per image"):
        mutual_information_matrix(np.zeros((10, 2)), np.zeros((9, 5), dtype=int))
    with pytest.raises(ValueError, match="at least 2 images"):
        factor_vae_score(np.zeros((1, 2)), np.zeros((1, 5), dtype=int))
    constant = factor_vae_score(np.zeros((50, 2)), np.random.default_rng(0).integers(0, 3, (50, 2)))
    assert constant == {"score": 0.0, "train_score": 0.0, "active_codes": 0}
    with pytest.raises(ValueError, match="one row per image"):
        dci(np.zeros(10), np.zeros((10, 1), dtype=int))


def test_a_trained_dsprites_run_is_scored_named_in_its_card_and_tabled_beside_infogan_cr(tmp_path):
    import subprocess
    import sys

    from infogan_hub.disentanglement import RESULTS_FILE
    from infogan_hub.hub import build_model_card

    from .conftest import REPOSITORY
    from .test_train import launch

    run = tmp_path / "run"
    launch(run, "--preset", "dsprites", "--max_train_steps", "4", "--eval_num_samples", "200", "--sample_steps", "0")
    command = [sys.executable, "-m", "infogan_hub.disentanglement", str(run), "--dataset", "dsprites", "--num_images", "2000", "--num_votes", "100", "--dci_rows", "400"]
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    results = json.loads((run / RESULTS_FILE).read_text())
    assert printed.startswith(f"MIG {results['mig']:.3f}, FactorVAE {results['factor_vae']['score']:.3f}")
    assert results["dataset"] == "dsprites/test" and results["num_images"] == 2000 and results["factor_names"] == list(dsprites.FACTOR_NAMES)
    assert np.array(results["mutual_information_nats"]).shape == (5, 5) and set(results["codes"]) == {f"continuous_{i}" for i in range(5)}
    leading = [code for code, entry in results["codes"].items() if entry["leads_factor"]]
    assert leading, "every factor has a code that shares the most information with it"

    text = build_model_card(run, "user/dsprites").text
    assert f"- MIG {results['mig']:.3f}, FactorVAE score" in text
    entry = results["codes"][leading[0]]
    label = f"{entry['factor'].replace('_', ' ')}, MIG gap {entry['gap']:.2f}"
    assert f"### {leading[0]}: {label}" in text and f"Columns: {leading[0]} ({label}) =" in text
    # the card says how short the schedule was: 4 steps of the tests' batch of 16 against the preset's 28 epochs
    assert "Schedule: 4 steps of 16 images: 0.00 epochs of dsprites (737,280 training images); the preset's schedule is 28 epochs (1,290,240 steps)" in text

    table = tmp_path / "dsprites.json"
    printed = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "dsprites.py"), "--runs", str(run), "--results", str(table)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    benchmark = json.loads(table.read_text())
    assert benchmark["runs"][0]["steps"] == 4 and benchmark["runs"][0]["mig"] == results["mig"] and benchmark["runs"][0]["spectral_norm"] is True
    assert "| InfoGAN-CR (published) | 50 | 28 epochs (322,560 steps) | 0.88 | 0.37 | |" in printed
    assert "| InfoGAN, `dsprites` preset (ours, CPU) | 1 | 4 steps (0.0% of it) |" in printed

    refused = subprocess.run([*command[:4], "--dataset", "mnist"], capture_output=True, text=True)
    assert refused.returncode != 0 and "mnist has no ground-truth factors" in refused.stderr
