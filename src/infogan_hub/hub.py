"""Publish a trained InfoGAN to the Hugging Face Hub with a model card filled from measurements.

    python -m infogan_hub.hub OUTPUT_DIR --repo_id user/infogan-mnist [--private] [--token ...]

The card is rendered from what the output folder holds: the models' configs (the latent
specification), `evaluation_results.json`, `analysis_results.json` and `training_config.json`;
nothing is typed by hand. Traversal images for every code are saved beside it and pushed.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import tempfile
from pathlib import Path
from typing import Optional

import torch
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from .analyze import ANALYSIS_FILE, LOWER_BOUND_FIGURE, categorical_prior_charts
from .analyze import code_labels as analysis_code_labels
from .analyze import describe as describe_analysis
from .disentanglement import RESULTS_FILE as DISENTANGLEMENT_FILE
from .disentanglement import code_labels as disentanglement_code_labels
from .disentanglement import describe as describe_disentanglement
from .data import BUILTIN_TRAIN_SIZES
from .evaluation import CANDIDATES_FILE, METRICS_FILE, RESULTS_FILE, TRAINING_CONFIG_FILE, describe_clustering, describe_generation, write_json
from .pipeline import InfoGANPipeline

CARD_TEMPLATE = "infogan_card.md"
# Plain diffusers (no infogan_hub installed) loads the models from code pushed beside the weights, on
# a branch of its own, so that `main` stays free of remote code for library users:
#   DiffusionPipeline.from_pretrained(repo_id, revision=<that branch's commit>, trust_remote_code=True)
REMOTE_CODE_BRANCH = "remote-code"
REMOTE_CODE_MODULE = "infogan_hub_remote"
REMOTE_CODE_SOURCES = ("latent", "models", "pipeline")
IMAGES_DIR = "images"
DATASET_IDS = {"mnist": "ylecun/mnist", "fashion_mnist": "zalando-datasets/fashion_mnist"}
TRAINING_SETTINGS = ("train_batch_size", "num_epochs", "max_train_steps", "learning_rate_generator", "learning_rate_discriminator",
                     "categorical_weight", "continuous_weight", "info_weight", "adversarial_loss", "consistency_weight",
                     "consistency_elastic_strength", "consistency_entropy_weight", "seed", "num_processes", "device")  # fmt: skip
# A seed study of the recipe that made the model (training/study.py's study.json), copied beside it.
STUDY_FILE = "study_results.json"


def _read_json(path: Path) -> Optional[dict]:
    return json.loads(path.read_text()) if path.is_file() else None


def code_labels(disentanglement: Optional[dict], analysis: Optional[dict]) -> dict[str, str]:
    """What each code controls, from a model's measurements: the ground-truth factor it leads
    (`disentanglement_results.json`), else the MNIST measurement it moves (`analysis_results.json`).
    The card and the Space both name codes with it."""
    if disentanglement:
        return disentanglement_code_labels(disentanglement)
    if analysis:
        return analysis_code_labels(analysis)
    return {}


def save_traversal_images(pipe: InfoGANPipeline, output_dir: Path, seed: int = 0, labels: Optional[dict[str, str]] = None) -> list[dict]:
    """One traversal grid per code (the paper's Figure 2), saved under `images/`; `labels` name
    what a code controls in its caption."""
    labels = labels or {}
    spec = pipe.latent_spec
    (output_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    row_code = spec.code_names[0] if spec.categorical_codes else None
    saved = []
    for code in spec.code_names:
        rows = row_code if row_code != code else None
        traversal = pipe.traverse(code, row_code=rows, steps=9, num_rows=8, generator=torch.Generator().manual_seed(seed))
        path = f"{IMAGES_DIR}/traversal-{code}.png"
        traversal.grid.save(output_dir / path)
        columns = ", ".join(f"{value:g}" for value in traversal.column_values)
        rows_text = f"rows: {rows} = 0..{len(traversal.row_values) - 1}" if rows else "rows: different noise and other codes"
        named = f" ({labels[code]})" if code in labels else ""
        saved.append({"code": code, "label": labels.get(code), "path": path, "caption": f"Columns: {code}{named} = {columns}; {rows_text}. Fixed seed {seed}."})
    return saved


def save_prior_charts(pipe: InfoGANPipeline, results: Optional[dict], output_dir: Path) -> list[dict]:
    """For a learned categorical prior, a bar chart per code under `images/` (see
    `analyze.categorical_prior_charts`) and a line with its figures."""
    saved = []
    for code, (figure, line) in categorical_prior_charts(pipe, results).items():
        path = f"{IMAGES_DIR}/prior-{code}.png"
        (output_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        figure.savefig(output_dir / path)
        saved.append({"code": code, "path": path, "line": line})
    return saved


def schedule_line(training: dict, results: Optional[dict]) -> Optional[str]:
    """How long the model trained, in steps and epochs, against its preset's schedule, e.g. a CPU
    run that saw 3.7% of a published one; None where the data set's size is not known."""
    size = BUILTIN_TRAIN_SIZES.get(training.get("dataset"))
    steps = (results or {}).get("step")
    if not size or not steps or not training.get("train_batch_size"):
        return None
    images_per_step = training["train_batch_size"] * training.get("num_processes", 1)
    line = f"{steps:,} steps of {images_per_step} images: {steps * images_per_step / size:.2f} epochs of {training['dataset']} ({size:,} training images)"
    if training.get("max_train_steps") and training.get("num_epochs"):  # the steps replaced the preset's epochs
        planned = round(training["num_epochs"] * (size // images_per_step))
        line += f"; the preset's schedule is {training['num_epochs']:g} epochs ({planned:,} steps), so this model trained for {100 * steps / planned:.1f}% of it"
    return line


def selection_line(candidates: Optional[dict]) -> Optional[str]:
    """How the run was chosen among candidate runs (`--candidate_runs`), from its CANDIDATES_FILE."""
    if not candidates:
        return None
    scores = ", ".join(f"seed {c['seed']}: {c['consistency_mutual_information']:.3f}" for c in candidates["candidates"])
    return (
        f"{len(candidates['candidates'])} candidate runs trained {candidates['step']} steps each, and the one whose Q sorts the "
        f"training images most consistently carried on: seed {candidates['chosen_seed']} (I(c; c') between an image's category "
        f"and its transformed copy's, in nats, no labels used: {scores})"
    )


def objective_lines(training: dict) -> list[str]:
    """The terms the model was trained with, each with its weight, from its training record."""
    if not training:
        return []
    lines = [
        f"adversarial loss: {training.get('adversarial_loss', 'non_saturating')} (equation 1)",
        f"information term L_I (equation 5): lambda {training.get('categorical_weight')} for categorical codes, "
        f"{training.get('continuous_weight')} for continuous codes, times {training.get('info_weight', 1.0)} in the generator's loss",
    ]
    if training.get("continuous_warmup_steps"):
        warmup = training["continuous_warmup_steps"]
        lines.append(f"continuous-code warm-up: their lambda is 0 for the first {warmup // 2} steps, then ramps linearly to full at step {warmup}")
    if training.get("categorical_prior") == "learned":
        parts = [f"categories drawn through a Gumbel-softmax at temperature {training.get('gumbel_temperature')}, its logits trained with the generator (Elastic-InfoGAN, Ojha et al. 2020)"]
        if training.get("prior_loss_weight"):
            parts.append(f"and by the expected generator loss over its categories (weight {training['prior_loss_weight']})")
        if training.get("prior_em_rate"):
            images = (
                f"a batch of the {training['prior_em_holdout']:.0%} of training images set aside for it (never trained on)"
                if training.get("prior_em_holdout")
                else "the batch's real images"
            )
            parts.append(
                f"and set by an M-step: after each D/Q step it moves {training['prior_em_rate']} of the way to Q's share of {images} "
                f"per category, with no category below {training.get('prior_min_share', 0.0)}"
            )
        if training.get("prior_warmup_steps"):
            parts.append(f"uniform for the first {training['prior_warmup_steps']} steps")
        if training.get("consistency_weight"):
            parts.append(
                "the consistency term asks real images' categories to be even"
                if training.get("consistency_marginal") == "uniform"
                else "the consistency term asks real images' categories to follow it rather than to be even"
            )
        lines.append("learned categorical prior: " + "; ".join(parts))
    if training.get("consistency_weight"):
        lines.append(
            f"categorical consistency on real images (IIC, Ji et al. 2019), weight {training['consistency_weight']}: D/Q maximises "
            "the mutual information between Q's categorical_0 for a real image and for a copy rotated (up to 20 degrees), "
            f"zoomed (0.9-1.1), shifted (up to 10%) and elastically bent (up to {training.get('consistency_elastic_strength', 0)} of the side)"
            + (f", its strokes thinned or thickened (up to {training['consistency_stroke_width']} pixels)" if training.get("consistency_stroke_width") else "")
            + "; "
            f"marginal entropy weight (IIC's lambda) {training.get('consistency_entropy_weight', 1.0)}"
            + (
                (
                    f"; beside it KL(uniform || Q's shares of those images), weight {training['consistency_size_barrier']}, "
                    if training.get("consistency_size_floor") is None
                    else f"; beside it, weight {training['consistency_size_barrier']}, the mean over categories of max(0, log({training['consistency_size_floor']} / Q's share of those images)), "
                )
                + "a barrier against a category emptying"
                if training.get("consistency_size_barrier")
                else ""
            )
            + (
                f"; the size terms read Q's shares as a moving average over batches (momentum {training['consistency_marginal_momentum']}), not one batch's"
                if training.get("consistency_marginal_momentum")
                else ""
            )
        )
    if training.get("overclustering_weight"):
        lines.append(
            f"overclustering consistency on real images (IIC's overclustering head), weight {training['overclustering_weight']}: "
            f"a second head on Q's hidden layer with {training.get('overclustering_categories')} even categories, trained by the same "
            "mutual information between a real image and its copy; it shapes Q's features and is never sampled"
        )
    if training.get("contrastive_weight"):
        lines.append(
            f"contrastive consistency on real images (Elastic-InfoGAN's NT-Xent), weight {training['contrastive_weight']}, "
            f"temperature {training.get('contrastive_temperature', 1.0)}: Q's features of a real image must pick out those of its "
            f"copy rotated (up to 20 degrees), zoomed (0.9-1.1), shifted (up to 10%) and bent up to {training.get('consistency_elastic_strength', 0)} of the side among the batch's"
        )
    return lines


def study_lines(study: Optional[dict], seed: Optional[int]) -> list[str]:
    """The spread of a seed study of the model's recipe, so one run's figure is read beside it."""
    if not study:
        return []
    summary, lines = study["summary"], []
    seeds = ", ".join(str(run["seed"]) for run in study["runs"])
    # accuracy as a percentage with one decimal; NMI and ARI as fractions with two
    for metric, label, scale, digits, unit in (("accuracy", "clustering accuracy", 100, 1, "%"), ("nmi", "NMI", 1, 2, ""), ("ari", "ARI", 1, 2, "")):
        if metric in summary:
            shown = {key: f"{scale * value:.{digits}f}{unit}" for key, value in summary[metric].items()}
            lines.append(f"{label}: {shown['mean']} ± {shown['std']} (min {shown['min']}, max {shown['max']})")
    if "worst_seed" in summary:
        lines.append(f"worst seed: {summary['worst_seed']}; this model: seed {seed}")
    for key, figures in summary.items():
        if key.startswith("lower_bound/categorical"):
            lines.append(f"L_I of {key.split('/')[1]}: {figures['mean']:.3f} ± {figures['std']:.3f} nats (min {figures['min']:.3f})")
    wall = summary["wall_seconds"]
    lines.append(f"wall time per run: {wall['mean'] / 60:.1f} ± {wall['std'] / 60:.1f} min (max {wall['max'] / 60:.1f}) on {study['device']}, "
                 f"{study['parallel_runs']} run(s) at a time, {study['threads_per_run']} thread(s) each")  # fmt: skip
    return [f"Seeds {seeds}, preset `{study['preset']}`:"] + lines


def build_model_card(output_dir: Path, repo_id: str) -> ModelCard:
    """Renders the card from the folder's configs and measurements, saving traversal images beside it."""
    output_dir = Path(output_dir)
    pipe = InfoGANPipeline.from_pretrained(output_dir)
    spec = pipe.latent_spec
    results = _read_json(output_dir / RESULTS_FILE)
    analysis = _read_json(output_dir / ANALYSIS_FILE)
    training = _read_json(output_dir / TRAINING_CONFIG_FILE) or {}
    study = _read_json(output_dir / STUDY_FILE)
    disentanglement = _read_json(output_dir / DISENTANGLEMENT_FILE)
    dataset = training.get("dataset", "unknown")

    eval_results, evaluation_lines = [], []
    if results:
        for code, accuracy in results.get("clustering", {}).get("codes", {}).items():
            agreement = f" (NMI {accuracy['nmi']:.3f}, ARI {accuracy['ari']:.3f})" if "nmi" in accuracy else ""
            evaluation_lines.append(
                f"{code}: clustering accuracy **{100 * accuracy['accuracy']:.2f}%**{agreement} on {results['clustering']['dataset']} "
                f"({results['clustering']['num_images']} images)"
            )
            eval_results.append(_eval_result(dataset, "accuracy", accuracy["accuracy"], f"Clustering accuracy of {code}"))
        evaluation_lines += describe_clustering(results) + describe_generation(results)
        entropy = results.get("categorical_entropy", {})
        for code, bound in results.get("mutual_information_lower_bound", {}).items():
            target = f" of H(c) = {entropy[code]:.2f}" if code in entropy else ""
            evaluation_lines.append(f"{code}: mutual information lower bound **{bound:.3f} nats**{target}")
            eval_results.append(_eval_result(dataset, "mutual_information_lower_bound", bound, f"L_I of {code} (nats)"))

    card_data = ModelCardData(
        license="apache-2.0",
        library_name="diffusers",
        pipeline_tag="unconditional-image-generation",
        tags=["infogan", "gan", "unconditional-image-generation", "diffusers", "infogan-hub", "disentanglement"],
        datasets=[DATASET_IDS[dataset]] if dataset in DATASET_IDS else None,
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    latent_rows = [{"name": f"categorical_{i}", "kind": "categorical", "prior": spec.categorical_prior, "size": size} for i, size in enumerate(spec.categorical_codes)]
    latent_rows += [{"name": f"continuous_{j}", "kind": "continuous", "prior": f"{spec.continuous_prior} (Q variance {spec.continuous_variance})", "size": 1}
                    for j in range(spec.continuous_codes)]  # fmt: skip
    latent_rows.append({"name": "noise", "kind": "noise", "prior": spec.noise_prior, "size": spec.noise_dim})
    example = []
    if spec.categorical_codes:
        example.append(f"categorical=[{', '.join(['3'] + ['None'] * (spec.num_categorical_codes - 1))}]")
    if spec.continuous_codes:
        example.append(f"continuous=[{', '.join(['1.5'] + ['None'] * (spec.continuous_codes - 1))}]")
    template = importlib.resources.files("infogan_hub.model_cards").joinpath(CARD_TEMPLATE).read_text()
    return ModelCard.from_template(
        card_data,
        template_str=template,
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        dataset=dataset,
        example_call=", ".join(example),
        first_code=spec.code_names[0],
        latent_rows=latent_rows,
        traversal_images=save_traversal_images(pipe, output_dir, labels=code_labels(disentanglement, analysis)),
        prior_charts=save_prior_charts(pipe, results, output_dir),
        evaluation_lines=evaluation_lines,
        evaluation_step=(results or {}).get("step"),
        num_samples=(results or {}).get("num_samples"),
        analysis_lines=describe_analysis(analysis) if analysis else [],
        disentanglement_lines=describe_disentanglement(disentanglement) if disentanglement else [],
        lower_bound_image=LOWER_BOUND_FIGURE if (output_dir / LOWER_BOUND_FIGURE).is_file() else None,
        logging_steps=training.get("logging_steps"),
        command=training.get("command"),
        code_revision=training.get("code_revision"),
        training_settings=[(key, training[key]) for key in TRAINING_SETTINGS if training.get(key) is not None],
        objective_lines=objective_lines(training),
        schedule=schedule_line(training, results),
        selection=selection_line(_read_json(output_dir / CANDIDATES_FILE)),
        study_lines=study_lines(study, training.get("seed")),
    )


def _eval_result(dataset: str, metric_type: str, value: float, name: str) -> EvalResult:
    return EvalResult(
        task_type="unconditional-image-generation",
        dataset_type=DATASET_IDS.get(dataset, dataset),
        dataset_name=dataset,
        metric_type=metric_type,
        metric_value=round(float(value), 4),
        metric_name=name,
    )


def push_to_hub(
    output_dir: Path,
    repo_id: str,
    token: Optional[str] = None,
    private: bool = False,
    revision: Optional[str] = None,
    commit_message: Optional[str] = None,
) -> str:
    """Writes the card, then creates the repo (if needed) and uploads the pipeline folder.

    Only what a user of the model needs is pushed: model_index.json, configs, safetensors weights,
    the card, its images and the measurement files; checkpoints and logs stay local. Unchanged
    files are skipped, so pushing the same folder twice makes no second commit.

    The same weights also go to the `remote-code` branch with the model code beside them, for
    users of plain diffusers (see `REMOTE_CODE_BRANCH`).

    Returns the URL of the commit to `main` (or of the repo when nothing changed).
    """
    output_dir = Path(output_dir)
    if not (output_dir / "model_index.json").is_file():
        raise FileNotFoundError(f"{output_dir} holds no saved pipeline (model_index.json); train or save_pretrained first.")
    api = HfApi(token=token)
    card = build_model_card(output_dir, repo_id)
    card.validate()  # the Hub's own check of the YAML header, before anything is uploaded
    card.save(output_dir / "README.md")
    repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
    results = _read_json(output_dir / RESULTS_FILE) or {}
    accuracy = [f"{code} {100 * c['accuracy']:.1f}%" for code, c in results.get("clustering", {}).get("codes", {}).items()]
    message = commit_message or (
        f"InfoGAN pipeline at step {results.get('step', '?')}" + (f" (clustering accuracy: {', '.join(accuracy)})" if accuracy else "")
    )
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=output_dir,
        revision=revision,
        commit_message=message,
        allow_patterns=["model_index.json", "*/config.json", "*/*.safetensors", "README.md", f"{IMAGES_DIR}/*.png",
                        RESULTS_FILE, ANALYSIS_FILE, DISENTANGLEMENT_FILE, TRAINING_CONFIG_FILE, CANDIDATES_FILE, STUDY_FILE],
        # fnmatch's * crosses folders: without these, checkpoints' and candidate runs' weights match */*.safetensors
        ignore_patterns=["checkpoint-*", ".partial-*", "candidates/*"],  # fmt: skip
    )
    api.create_branch(repo_id, branch=REMOTE_CODE_BRANCH, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        stage_remote_code(output_dir, Path(staging))
        api.upload_folder(repo_id=repo_id, folder_path=staging, revision=REMOTE_CODE_BRANCH, commit_message=f"{message}, as remote code")
    return commit.commit_url if commit.oid else str(repo_url)


def remote_code_module() -> str:
    """The library's latent, models and pipeline modules as one self-contained file."""
    parts = ['"""InfoGAN for diffusers\' trust_remote_code, generated by infogan-hub from its latent.py, models.py and pipeline.py."""',
             "from __future__ import annotations"]  # fmt: skip
    for name in REMOTE_CODE_SOURCES:
        source = importlib.resources.files("infogan_hub").joinpath(f"{name}.py").read_text()
        parts.append("\n".join(line for line in source.splitlines() if not line.startswith(("from __future__", "from ."))))
    return "\n\n".join(parts) + "\n"


def stage_remote_code(output_dir: Path, staging: Path) -> None:
    """The pipeline folder laid out for diffusers' custom components and custom pipeline."""
    index = json.loads((output_dir / "model_index.json").read_text())
    module = remote_code_module()
    for component, value in index.items():
        if isinstance(value, list) and value[0] is not None:
            index[component] = [REMOTE_CODE_MODULE, value[1]]
            (staging / component).mkdir(parents=True)
            for file in ("config.json", "diffusion_pytorch_model.safetensors"):
                (staging / component / file).write_bytes((output_dir / component / file).read_bytes())
            (staging / component / f"{REMOTE_CODE_MODULE}.py").write_text(module)
    index["_class_name"] = ["pipeline", index["_class_name"]]
    (staging / "model_index.json").write_text(json.dumps(index, indent=2))
    (staging / "pipeline.py").write_text(module)
    (staging / "README.md").write_bytes((output_dir / "README.md").read_bytes())


def export_pipeline(output_dir: Path, target_dir: Path, dtype: torch.dtype = torch.float16) -> Path:
    """A compact copy of a trained pipeline folder: weights in `dtype`, the measurement files and
    the L_I figure, without checkpoints, logs or samples (what is bundled or published)."""
    output_dir, target_dir = Path(output_dir), Path(target_dir)
    InfoGANPipeline.from_pretrained(output_dir, dtype=dtype).save_pretrained(target_dir)
    for name in (RESULTS_FILE, ANALYSIS_FILE, DISENTANGLEMENT_FILE, TRAINING_CONFIG_FILE, CANDIDATES_FILE, METRICS_FILE, LOWER_BOUND_FIGURE, STUDY_FILE):
        if (output_dir / name).is_file():
            (target_dir / name).parent.mkdir(exist_ok=True)
            (target_dir / name).write_bytes((output_dir / name).read_bytes())
    return target_dir


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Push a trained InfoGAN output folder to the Hub with its model card.")
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--repo_id", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--card_only", action="store_true", help="write README.md and images without pushing")
    parser.add_argument("--export", type=Path, default=None, help="first copy the pipeline here in fp16 with its measurements (then card/push that copy)")
    parser.add_argument("--study", type=Path, default=None, help="a study.json of this model's recipe (training/study.py), shown in the card and pushed")
    args = parser.parse_args(argv)
    if args.study is not None:
        study = json.loads(args.study.read_text())  # fails here, before anything is written, if it is not JSON
        if not {"runs", "summary", "preset"} <= set(study):
            raise SystemExit(f"{args.study} is not a study.json from training/study.py (it needs runs, summary and preset).")
        write_json(args.output_dir / STUDY_FILE, study)
    if args.export is not None:
        args.output_dir = export_pipeline(args.output_dir, args.export)
    if args.card_only:
        build_model_card(args.output_dir, args.repo_id).save(args.output_dir / "README.md")
        print(f"written to {args.output_dir / 'README.md'}")
        return
    print(push_to_hub(args.output_dir, args.repo_id, token=args.token, private=args.private))


if __name__ == "__main__":
    main()
