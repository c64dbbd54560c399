"""Disentanglement on data whose factors are known: MIG, the FactorVAE score, DCI, and which code
controls which factor.

    python -m infogan_hub.disentanglement OUTPUT_DIR --dataset dsprites

reads a saved pipeline, lets Q infer the codes of real images (continuous codes: Q's mean;
categorical codes: Q's most likely category), and writes `disentanglement_results.json` beside it.

The metrics follow their papers and disentanglement_lib's choices (20-bin histograms for MIG,
majority vote over 64-image batches for FactorVAE, gradient-boosted trees for DCI):
- MIG (Chen et al. 2018): for each factor, the gap between the two codes that share the most
  information with it, over the factor's entropy, averaged over factors.
- FactorVAE score (Kim & Mnih 2018): fix one factor in a batch, find the code whose variance
  (over its global variance) is smallest, and classify the factor from that code by majority vote;
  chance is about one over the number of factors, not 0.
- DCI (Eastwood & Williams 2018): trees predict each factor from the codes; their importances give
  disentanglement (each code informs one factor) and completeness (each factor is held by one
  code); informativeness is their test accuracy.
The `disent` package implements the same metrics but needs lightning, h5py and its own data
classes; these functions take plain arrays and need scikit-learn only.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score

RESULTS_FILE = "disentanglement_results.json"
NUM_BINS = 20


def discretize(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Each column into `num_bins` equal-width bins (columns with few values keep them)."""
    columns = []
    for column in codes.T:
        values = np.unique(column)
        if len(values) <= num_bins:
            columns.append(np.searchsorted(values, column))
        else:
            columns.append(np.digitize(column, np.histogram_bin_edges(column, num_bins)[1:-1]))
    return np.stack(columns, axis=1)


def mutual_information_matrix(codes: np.ndarray, factors: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """I(code_i; factor_j) in nats, `(num_codes, num_factors)`, with codes discretized in `num_bins` bins."""
    _check_pairs(codes, factors)
    binned = discretize(codes, num_bins)
    return np.array([[mutual_info_score(factor, code) for factor in factors.T] for code in binned.T])


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    return np.array([mutual_info_score(factor, factor) for factor in factors.T])


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, num_bins: int = NUM_BINS) -> dict:
    """MIG: mean over factors of (largest - second largest I(code; factor)) / H(factor)."""
    information = mutual_information_matrix(codes, factors, num_bins)
    ranked = np.sort(information, axis=0)[::-1]
    second = ranked[1] if len(ranked) > 1 else np.zeros_like(ranked[0])
    entropies = factor_entropies(factors)
    gaps = (ranked[0] - second) / np.maximum(entropies, 1e-12)
    return {"score": float(gaps.mean()), "per_factor": gaps.tolist(), "matrix": information, "factor_entropies": entropies}


def factor_vae_score(
    codes: np.ndarray, factors: np.ndarray, num_votes: int = 800, batch_size: int = 64, seed: int = 0
) -> dict:
    """FactorVAE's score: accuracy of the majority-vote classifier from (factor fixed) to
    (code of least normalised variance); half the votes train it, half evaluate it."""
    _check_pairs(codes, factors)
    random = np.random.default_rng(seed)
    scale = codes.std(axis=0, ddof=1)
    active = scale > 0
    if not active.any():
        return {"score": 0.0, "train_score": 0.0, "active_codes": 0}
    normalised = codes[:, active] / scale[active]
    rows_of = [{value: np.flatnonzero(column == value) for value in np.unique(column)} for column in factors.T]

    def votes(count: int) -> np.ndarray:
        tally = np.zeros((factors.shape[1], normalised.shape[1]), dtype=np.int64)
        for _ in range(count):
            factor = random.integers(factors.shape[1])
            value = random.choice(list(rows_of[factor]))
            rows = random.choice(rows_of[factor][value], size=batch_size)  # the factor fixed, the others as the data has them
            tally[factor, np.argmin(normalised[rows].var(axis=0, ddof=1))] += 1
        return tally

    train, evaluation = votes(num_votes // 2), votes(num_votes - num_votes // 2)
    classifier = train.argmax(axis=1)  # factor -> the code that most often varies least with it fixed
    accuracy = lambda tally: float(tally[np.arange(len(classifier)), classifier].sum() / max(tally.sum(), 1))  # noqa: E731
    return {"score": accuracy(evaluation), "train_score": accuracy(train), "active_codes": int(active.sum())}


def dci(codes: np.ndarray, factors: np.ndarray, num_train: Optional[int] = None, seed: int = 0) -> dict:
    """DCI with gradient-boosted trees: disentanglement, completeness, informativeness (test accuracy)
    and the importance matrix `(num_codes, num_factors)`; 80% of the rows train, 20% test."""
    _check_pairs(codes, factors)
    order = np.random.default_rng(seed).permutation(len(codes))
    split = num_train or int(0.8 * len(codes))
    train, test = order[:split], order[split:]
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    accuracies = []
    for index, factor in enumerate(factors.T):
        model = GradientBoostingClassifier(random_state=seed).fit(codes[train], factor[train])
        importance[:, index] = np.abs(model.feature_importances_)
        accuracies.append(float((model.predict(codes[test]) == factor[test]).mean()))
    per_code = 1 - entropy(importance.T + 1e-11, base=importance.shape[1])  # each code informs one factor
    per_factor = 1 - entropy(importance + 1e-11, base=importance.shape[0]) if importance.shape[0] > 1 else np.ones(importance.shape[1])
    total = importance.sum() or 1.0
    code_weights = importance.sum(axis=1) / total if importance.sum() else np.full(importance.shape[0], 1 / importance.shape[0])
    factor_weights = importance.sum(axis=0) / total if importance.sum() else np.full(importance.shape[1], 1 / importance.shape[1])
    return {
        "disentanglement": float((per_code * code_weights).sum()),
        "completeness": float((per_factor * factor_weights).sum()),
        "informativeness": float(np.mean(accuracies)),
        "informativeness_per_factor": accuracies,
        "importance": importance,
    }


def code_factor_names(information: np.ndarray, code_names: Sequence[str], factor_names: Sequence[str]) -> dict:
    """Each code named by the factor it shares the most information with, with its MIG-style gap
    (over that factor's entropy, the best code's share minus the runner-up's)."""
    names = {}
    for index, code in enumerate(code_names):
        factor = int(information[index].argmax())
        column = np.sort(information[:, factor])[::-1]
        runner_up = column[1] if len(column) > 1 else 0.0
        leads = bool(information[index, factor] >= column[0])
        names[code] = {"factor": factor_names[factor], "information": float(information[index, factor]),
                       "leads_factor": leads, "gap": float(information[index, factor] - runner_up) if leads else 0.0}  # fmt: skip
    return names


def disentanglement_scores(
    codes: np.ndarray, factors: np.ndarray, code_names: Sequence[str], factor_names: Sequence[str],
    num_votes: int = 800, dci_rows: int = 10_000, seed: int = 0,
) -> dict:  # fmt: skip
    """Every metric for codes and factors of the same images, as JSON-ready values."""
    _check_pairs(codes, factors)
    mig = mutual_information_gap(codes, factors)
    entropies = mig["factor_entropies"]
    rows = np.random.default_rng(seed).permutation(len(codes))[:dci_rows]
    dci_scores = dci(codes[rows], factors[rows], seed=seed)
    return {
        "code_names": list(code_names),
        "factor_names": list(factor_names),
        "num_images": int(len(codes)),
        "mig": mig["score"],
        "mig_per_factor": dict(zip(factor_names, mig["per_factor"])),
        "factor_vae": factor_vae_score(codes, factors, num_votes=num_votes, seed=seed),
        "dci": {key: value for key, value in dci_scores.items() if key != "importance"}
        | {"importance": dci_scores["importance"].tolist()},
        "mutual_information_nats": mig["matrix"].tolist(),
        "normalized_mutual_information": (mig["matrix"] / np.maximum(entropies, 1e-12)).tolist(),
        "factor_entropy_nats": entropies.tolist(),
        "codes": code_factor_names(mig["matrix"] / np.maximum(entropies, 1e-12), code_names, factor_names),
    }


def _check_pairs(codes: np.ndarray, factors: np.ndarray) -> None:
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(
            f"codes and factors must be 2-D with one row per image, got shapes {tuple(codes.shape)} and {tuple(factors.shape)}."
        )
    if len(codes) < 2:
        raise ValueError(f"need at least 2 images, got {len(codes)}.")


# --- a saved pipeline's codes ----------------------------------------------------------------------
@torch.no_grad()
def infer_codes(discriminator, images: torch.Tensor, batch_size: int = 1024) -> tuple[np.ndarray, list[str]]:
    """Q's codes for uint8 images `(N, C, H, W)`: continuous means, then each categorical code's most
    likely category; with their names (`continuous_0`, ..., `categorical_0`, ...)."""
    spec = discriminator.latent_spec
    device = next(discriminator.parameters()).device
    columns = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device).float().div(127.5).sub(1.0)
        q = discriminator.infer_codes(batch)
        categories = [logits.argmax(dim=1, keepdim=True).float() for logits in q.categorical_logits]
        columns.append(torch.cat([q.continuous_mean.float(), *categories], dim=1).cpu())
    names = [f"continuous_{i}" for i in range(spec.continuous_codes)] + [f"categorical_{i}" for i in range(len(spec.categorical_codes))]
    return torch.cat(columns).numpy(), names


def evaluate_disentanglement(output_dir: Path, dataset_name: str, num_images: int = 50_000, seed: int = 0, **metric_options) -> dict:
    """Loads the pipeline in `output_dir`, scores Q's codes of `num_images` random images of a data
    set with factors, and writes RESULTS_FILE there."""
    from .data import load_dataset
    from .evaluation import write_json
    from .pipeline import InfoGANPipeline

    dataset = load_dataset(dataset_name, "test")
    if dataset.factors is None:
        raise ValueError(f"{dataset_name} has no ground-truth factors; the metrics need a data set that has them, such as dsprites.")
    pipeline = InfoGANPipeline.from_pretrained(output_dir)
    pipeline.discriminator.eval()
    rows = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(dataset))[:num_images]))
    codes, code_names = infer_codes(pipeline.discriminator, dataset.images[rows])
    results = disentanglement_scores(codes, dataset.factors[rows].numpy(), code_names, dataset.factor_names, seed=seed, **metric_options)
    results |= {"dataset": dataset.name, "seed": seed}
    write_json(Path(output_dir) / RESULTS_FILE, results)
    return results


def code_labels(results: dict) -> dict[str, str]:
    """Each code that leads a factor named by it, with its gap: {"continuous_2": "position x, MIG gap 0.41"}."""
    return {code: f"{entry['factor'].replace('_', ' ')}, MIG gap {entry['gap']:.2f}" for code, entry in results["codes"].items() if entry["leads_factor"]}


def describe(results: dict) -> list[str]:
    """Lines for the card and the Space: the metrics, then what each code controls."""
    lines = [
        f"MIG {results['mig']:.3f}, FactorVAE score {results['factor_vae']['score']:.3f}, DCI disentanglement "
        f"{results['dci']['disentanglement']:.3f} / completeness {results['dci']['completeness']:.3f} / informativeness "
        f"{results['dci']['informativeness']:.3f} (Q's codes of {results['num_images']} {results.get('dataset', '')} images)"
    ]
    for code, entry in results["codes"].items():
        if entry["leads_factor"]:
            lines.append(f"{code} controls {entry['factor'].replace('_', ' ')} (normalised information {entry['information']:.2f}, MIG gap {entry['gap']:.2f})")
        else:
            lines.append(f"{code} leads no factor (most information with {entry['factor'].replace('_', ' ')}: {entry['information']:.2f})")
    return lines


def summary_line(results: dict) -> str:
    named = ", ".join(
        f"{code} controls {entry['factor']}" + (f" (gap {entry['gap']:.2f})" if entry["leads_factor"] else " (not the lead code)")
        for code, entry in results["codes"].items()
    )
    return (
        f"MIG {results['mig']:.3f}, FactorVAE {results['factor_vae']['score']:.3f}, DCI disentanglement "
        f"{results['dci']['disentanglement']:.3f} / completeness {results['dci']['completeness']:.3f} / "
        f"informativeness {results['dci']['informativeness']:.3f}; {named}"
    )


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", type=Path, help="a saved pipeline (training's output folder or save_pretrained's)")
    parser.add_argument("--dataset", default="dsprites", help="a data set with ground-truth factors")
    parser.add_argument("--num_images", type=int, default=50_000, help="real images whose codes Q infers")
    parser.add_argument("--num_votes", type=int, default=800, help="FactorVAE's votes (half train, half evaluate)")
    parser.add_argument("--dci_rows", type=int, default=10_000, help="images the DCI trees see (80%% train, 20%% test)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = evaluate_disentanglement(
        args.output_dir, args.dataset, args.num_images, args.seed, num_votes=args.num_votes, dci_rows=args.dci_rows
    )
    print(summary_line(results))


if __name__ == "__main__":
    main()
