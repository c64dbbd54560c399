"""Push and pull through the real huggingface_hub client against a Hub-compatible server on 127.0.0.1.

Every test runs its client in a fresh process, because huggingface_hub binds HF_ENDPOINT and
friends when it is first imported.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from .conftest import REPOSITORY, SMALL_ARCHITECTURE
from .hub_server import HubServer

TOKEN, USER = "hf_test_token_for_user", "user"


@pytest.fixture
def hub():
    with HubServer({TOKEN: USER}) as server:
        yield server


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A freshly trained tiny pipeline: a real `accelerate launch` run of a few steps on MNIST, chosen
    among two candidate runs, with checkpoints (which stay local, as the candidates do)."""
    from .test_train import launch

    output_dir = tmp_path_factory.mktemp("trained")
    launch(output_dir, "--max_train_steps", "4", "--checkpointing_steps", "2", "--candidate_runs", "2", "--candidate_steps", "2",
           "--report_to", "none", "--eval_num_samples", "100")  # fmt: skip
    assert list(output_dir.glob("checkpoint-*/*.safetensors")) and list(output_dir.glob("candidates/*/*/*.safetensors"))
    from infogan_hub.analyze import ANALYSIS_FILE, analyze_continuous_codes
    from infogan_hub import InfoGANPipeline

    analysis = analyze_continuous_codes(InfoGANPipeline.from_pretrained(output_dir), values=[-2, 0, 2], num_samples=8)
    (output_dir / ANALYSIS_FILE).write_text(json.dumps(analysis))
    return output_dir


def hub_env(hub, tmp_path):
    """The Hub client's settings for the test server, with an empty cache."""
    return {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # fmt: skip


def run_client(hub, tmp_path, code, token=TOKEN, offline=False, expect_failure=False):
    """Runs `code` in a new Python with the Hub client pointed at the test server and an empty cache."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE"))} | hub_env(hub, tmp_path)
    if token:
        env["HF_TOKEN"] = token
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, cwd=REPOSITORY)
    if expect_failure:
        assert result.returncode != 0, result.stdout
        return result.stderr
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


PULL_AND_GENERATE = """
    import numpy as np, torch, infogan_hub
    from diffusers import DiffusionPipeline
    from infogan_hub import InfoGANPipeline
    for loader in (InfoGANPipeline, DiffusionPipeline):
        pipe = loader.from_pretrained("user/infogan-test")
        images = pipe(batch_size=3, categorical=[2], generator=torch.Generator().manual_seed(7), output_type="np").images
        np.save(f"{loader.__name__}.npy", images)
        print(type(pipe).__name__, pipe.discriminator is not None)
"""


def test_push_then_pull_by_repo_id_with_both_loaders_gives_the_same_images(hub, trained_dir, tmp_path):
    out = run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        print(push_to_hub({str(trained_dir)!r}, "user/infogan-test"))
    """)
    assert "/user/infogan-test/commit/" in out
    files = hub.commits("user/infogan-test")[-1].files
    assert {"model_index.json", "image_generator/config.json", "image_generator/diffusion_pytorch_model.safetensors",
            "discriminator/diffusion_pytorch_model.safetensors", "README.md", "evaluation_results.json",
            "images/traversal-categorical_0.png", "images/traversal-continuous_1.png"} <= set(files)  # fmt: skip
    assert not any(path.startswith(("checkpoint-", "candidates/", "logs/", "samples/")) for path in files)
    assert "candidates.json" in files  # how the run was chosen, which the card tells
    assert files["image_generator/diffusion_pytorch_model.safetensors"].lfs and files["images/traversal-continuous_0.png"].lfs
    assert not files["model_index.json"].lfs

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    out = run_client(hub, tmp_path, PULL_AND_GENERATE.replace('f"{loader', f'f"{pulled}/{{loader'))
    assert out.split() == ["InfoGANPipeline", "True", "InfoGANPipeline", "True"]

    from infogan_hub import InfoGANPipeline
    import numpy as np

    local = InfoGANPipeline.from_pretrained(trained_dir)
    expected = local(batch_size=3, categorical=[2], generator=torch.Generator().manual_seed(7), output_type="np").images
    for loader in ("InfoGANPipeline", "DiffusionPipeline"):
        np.testing.assert_array_equal(np.load(pulled / f"{loader}.npy"), expected)

    # then offline, from the cache alone
    out = run_client(hub, tmp_path, PULL_AND_GENERATE.replace('f"{loader', f'f"{pulled}/offline-{{loader'), offline=True)
    np.testing.assert_array_equal(np.load(pulled / "offline-DiffusionPipeline.npy"), expected)


def test_the_card_is_filled_from_measurements_and_reads_back(hub, trained_dir, tmp_path):
    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/infogan-test")
    """)
    out = run_client(hub, tmp_path, """
        import json
        from huggingface_hub import ModelCard
        card = ModelCard.load("user/infogan-test")
        data = card.data.to_dict()
        print(json.dumps({"data": data, "text": card.text}))
    """)
    card = json.loads(out)
    data, text = card["data"], card["text"]
    assert data["library_name"] == "diffusers" and data["pipeline_tag"] == "unconditional-image-generation"
    assert {"infogan", "gan", "diffusers"} <= set(data["tags"]) and data["datasets"] == ["ylecun/mnist"]
    results = json.loads((trained_dir / "evaluation_results.json").read_text())
    metrics = data["model-index"][0]["results"][0]["metrics"]
    accuracy = results["clustering"]["codes"]["categorical_0"]["accuracy"]
    assert {"type": "accuracy", "value": round(accuracy, 4), "name": "Clustering accuracy of categorical_0"} in metrics
    assert f"{100 * accuracy:.2f}%" in text
    from infogan_hub.evaluation import describe_clustering

    assert describe_clustering(results)[0] in text  # which categories hold two classes, which classes two categories
    assert "| categorical_0 | categorical | uniform | 10 |" in text and "![traversal of continuous_1](images/traversal-continuous_1.png)" in text
    assert "accelerate launch training/train.py --preset mnist" in text
    assert f"Trained with infogan-hub at `{json.loads((trained_dir / 'training_config.json').read_text())['code_revision']}`" in text
    assert "continuous_0 controls" in text
    chosen = json.loads((trained_dir / "candidates.json").read_text())["chosen_seed"]
    assert f"Run chosen: 2 candidate runs trained 2 steps each, and the one whose Q sorts the training images most consistently carried on: seed {chosen}" in text


def test_pushing_the_same_folder_again_makes_no_new_commit(hub, trained_dir, tmp_path):
    push = f"""
        from infogan_hub.hub import push_to_hub
        print(push_to_hub({str(trained_dir)!r}, "user/infogan-test"))
    """
    run_client(hub, tmp_path, push)
    branches = hub.state.repos["user/infogan-test"].branches
    counts = {name: len(commits) for name, commits in branches.items()}
    assert set(counts) == {"main", "remote-code"}
    run_client(hub, tmp_path, push)
    assert {name: len(commits) for name, commits in branches.items()} == counts


def test_a_revision_can_be_pinned(hub, trained_dir, tmp_path):
    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/infogan-test")
    """)
    sha = hub.commits("user/infogan-test")[-1].sha
    out = run_client(hub, tmp_path, f"""
        import infogan_hub
        from infogan_hub import InfoGANPipeline
        print(InfoGANPipeline.from_pretrained("user/infogan-test", revision={sha!r}).image_generator.config.hidden_dim)
    """)
    assert out.strip() == "64"
    error = run_client(hub, tmp_path, """
        from infogan_hub import InfoGANPipeline
        InfoGANPipeline.from_pretrained("user/infogan-test", revision="no-such-branch")
    """, expect_failure=True)
    assert "RevisionNotFound" in error or "no-such-branch" in error


def test_clear_errors_for_missing_repo_private_repo_and_no_token(hub, trained_dir, tmp_path):
    error = run_client(hub, tmp_path, """
        from infogan_hub import InfoGANPipeline
        InfoGANPipeline.from_pretrained("user/does-not-exist")
    """, expect_failure=True)
    assert "user/does-not-exist" in error and ("RepositoryNotFoundError" in error or "not a valid repo id" in error or "Repository Not Found" in error)

    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/private-infogan", private=True)
    """)
    assert hub.state.repos["user/private-infogan"].private
    error = run_client(hub, tmp_path, """
        from infogan_hub import InfoGANPipeline
        InfoGANPipeline.from_pretrained("user/private-infogan")
    """, token=None, expect_failure=True)
    assert "user/private-infogan" in error

    error = run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/needs-token")
    """, token=None, expect_failure=True)
    assert "401" in error or "Invalid credentials" in error or "token" in error.lower()
    assert "user/needs-token" not in hub.state.repos


def test_a_card_with_invalid_yaml_is_refused_before_upload(hub, tmp_path):
    error = run_client(hub, tmp_path, """
        from huggingface_hub import ModelCard
        ModelCard("---\\nlicense: [apache-2.0\\n---\\n# broken").validate()
    """, expect_failure=True)
    assert "expected ',' or ']'" in error and "license: [apache-2.0" in error


def test_missing_file_in_repo_gets_entry_not_found(hub, trained_dir, tmp_path):
    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/infogan-test")
    """)
    error = run_client(hub, tmp_path, """
        from huggingface_hub import hf_hub_download
        hf_hub_download("user/infogan-test", "no-such-file.json")
    """, expect_failure=True)
    assert "EntryNotFoundError" in error or "no-such-file.json" in error


def test_training_with_push_to_hub_publishes_at_the_end(hub, tmp_path):
    from .test_train import launch

    env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0"}
    launch(tmp_path / "run", "--max_train_steps", "2", "--report_to", "none", "--eval_num_samples", "50", "--push_to_hub",
           "--hub_model_id", "user/from-training", "--hub_token", TOKEN, "--hub_private_repo", extra_env=env)  # fmt: skip
    repo = hub.state.repos["user/from-training"]
    assert repo.private and "InfoGAN pipeline at step 2" in repo.commits[-1].message
    assert "image_generator/diffusion_pytorch_model.safetensors" in repo.commits[-1].files
    training_config = json.loads((tmp_path / "run" / "training_config.json").read_text())
    assert "hub_token" not in training_config and TOKEN not in training_config["command"] and "--hub_token '<token>'" in training_config["command"]


@pytest.mark.skipif(not os.environ.get("INFOGAN_HUB_REAL_HUB_TOKEN"), reason="opt-in: set INFOGAN_HUB_REAL_HUB_TOKEN and INFOGAN_HUB_REAL_HUB_REPO to push to the real Hub")
def test_the_real_hub(trained_dir):
    from infogan_hub.hub import push_to_hub
    from infogan_hub import InfoGANPipeline

    repo = os.environ["INFOGAN_HUB_REAL_HUB_REPO"]
    push_to_hub(trained_dir, repo, token=os.environ["INFOGAN_HUB_REAL_HUB_TOKEN"], private=True)
    assert InfoGANPipeline.from_pretrained(repo, token=os.environ["INFOGAN_HUB_REAL_HUB_TOKEN"]) is not None


def test_plain_diffusers_without_infogan_hub_loads_the_remote_code_branch(hub, trained_dir, tmp_path):
    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/infogan-test")
    """)
    pinned = hub.state.repos["user/infogan-test"].branches["remote-code"][-1].sha
    images = tmp_path / "remote.npy"
    out = run_client(hub, tmp_path, f"""
        import sys
        sys.modules["infogan_hub"] = None  # this process cannot import infogan_hub
        try:
            import infogan_hub
        except ImportError:
            print("no infogan_hub")
        import numpy as np, torch
        from diffusers import DiffusionPipeline
        pipe = DiffusionPipeline.from_pretrained("user/infogan-test", revision={pinned!r}, trust_remote_code=True)
        print(type(pipe).__name__, type(pipe).__module__)
        np.save({str(images)!r}, pipe(batch_size=3, categorical=[2], generator=torch.Generator().manual_seed(7), output_type="np").images)
    """)
    assert out.splitlines()[0] == "no infogan_hub"
    assert out.splitlines()[1].startswith("InfoGANPipeline ") and "infogan_hub." not in out.splitlines()[1]
    from infogan_hub import InfoGANPipeline
    import numpy as np

    expected = InfoGANPipeline.from_pretrained(trained_dir)(batch_size=3, categorical=[2], generator=torch.Generator().manual_seed(7), output_type="np").images
    np.testing.assert_array_equal(np.load(images), expected)
    # without trust_remote_code, plain diffusers refuses rather than running pushed code
    error = run_client(hub, tmp_path, f"""
        import sys
        sys.modules["infogan_hub"] = None
        from diffusers import DiffusionPipeline
        DiffusionPipeline.from_pretrained("user/infogan-test", revision={pinned!r})
    """, expect_failure=True)
    assert "trust_remote_code" in error


def test_an_export_is_half_precision_with_the_measurements_and_the_lower_bound_figure(trained_dir, tmp_path):
    """What gets bundled or published: no checkpoints or samples, and the card finds the L_I figure."""
    import shutil

    from safetensors.torch import load_file

    from infogan_hub.analyze import LOWER_BOUND_FIGURE
    from infogan_hub.analyze import main as analyze
    from infogan_hub.hub import build_model_card, export_pipeline

    run = tmp_path / "run"
    shutil.copytree(trained_dir, run)
    analyze([str(run), "--num_samples", "8", "--compare_run", str(trained_dir)])
    exported = export_pipeline(run, tmp_path / "exported")
    weights = load_file(exported / "image_generator" / "diffusion_pytorch_model.safetensors")
    assert {tensor.dtype for name, tensor in weights.items() if tensor.is_floating_point()} == {torch.float16}
    for name in ("evaluation_results.json", "analysis_results.json", "training_config.json", "candidates.json", "metrics.jsonl", LOWER_BOUND_FIGURE):
        assert (exported / name).is_file(), name
    assert not list(exported.glob("checkpoint-*")) and not (exported / "samples").exists() and not (exported / "candidates").exists()
    text = build_model_card(exported, "user/infogan-test").text
    assert f"![L_I over training]({LOWER_BOUND_FIGURE})" in text and "logged every 2 steps" in text


def test_the_space_shows_a_hub_models_measurements(hub, trained_dir, tmp_path):
    """MODEL_ID=user/repo, as on a real Space: the summary reads the results pushed beside the weights."""
    from gradio_client import Client

    from .test_space import serve_app

    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(trained_dir)!r}, "user/infogan-test")
    """)
    accuracy = json.loads((trained_dir / "evaluation_results.json").read_text())["clustering"]["codes"]["categorical_0"]["accuracy"]
    with serve_app("user/infogan-test", hub_env(hub, tmp_path / "space")) as url:
        summary, *updates = Client(url, verbose=False).predict(api_name="/load_model")
    assert "**Model:** `user/infogan-test`" in summary and f"clustering accuracy {100 * accuracy:.1f}% on mnist/test" in summary
    assert "- continuous_0 controls " in summary


def test_a_learned_prior_round_trips_through_the_hub_both_loaders_and_the_remote_code(hub, tmp_path):
    from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline

    prior = [0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]
    image_generator = InfoGANGenerator(**SMALL_ARCHITECTURE, categorical_prior="learned")
    with torch.no_grad():
        image_generator.categorical_prior_logits.copy_(torch.tensor(prior).log())
    folder = tmp_path / "learned"
    InfoGANPipeline(image_generator.eval(), InfoGANDiscriminator(**SMALL_ARCHITECTURE, categorical_prior="learned").eval()).save_pretrained(folder)
    run_client(hub, tmp_path, f"""
        from infogan_hub.hub import push_to_hub
        push_to_hub({str(folder)!r}, "user/infogan-learned")
    """)
    pinned = hub.state.repos["user/infogan-learned"].branches["remote-code"][-1].sha
    out = run_client(hub, tmp_path, """
        import infogan_hub
        from diffusers import DiffusionPipeline
        from infogan_hub import InfoGANPipeline
        for loader in (InfoGANPipeline, DiffusionPipeline):
            print(loader.from_pretrained("user/infogan-learned").categorical_prior()[0].tolist())
    """)
    remote = run_client(hub, tmp_path, f"""
        import sys
        sys.modules["infogan_hub"] = None  # plain diffusers with the pushed code only
        from diffusers import DiffusionPipeline
        pipe = DiffusionPipeline.from_pretrained("user/infogan-learned", revision={pinned!r}, trust_remote_code=True)
        print(pipe.categorical_prior()[0].tolist())
    """)
    for line in [*out.splitlines(), remote.strip()]:
        assert json.loads(line) == pytest.approx(prior, abs=1e-6)


def test_the_card_shows_a_learned_prior_beside_the_matched_class_frequencies(tmp_path):
    from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline
    from infogan_hub.data import load_dataset
    from infogan_hub.evaluation import evaluate, write_results
    from infogan_hub.hub import build_model_card

    image_generator = InfoGANGenerator(**SMALL_ARCHITECTURE, categorical_prior="learned")
    with torch.no_grad():
        image_generator.categorical_prior_logits.copy_(torch.tensor([0.3, 0.22] + [0.06] * 8).log())
    pipe = InfoGANPipeline(image_generator.eval(), InfoGANDiscriminator(**SMALL_ARCHITECTURE, categorical_prior="learned").eval())
    pipe.save_pretrained(tmp_path)
    write_results(evaluate(pipe.image_generator, pipe.discriminator, dataset=load_dataset("mnist", "test"), num_samples=100), tmp_path)
    text = build_model_card(tmp_path, "user/learned").text
    assert "| categorical_0 | categorical | learned | 10 |" in text
    assert "categorical_0: learned prior 0.300, 0.220, 0.060" in text and "total variation from the matched classes' frequencies 0." in text
    assert "![learned prior of categorical_0](images/prior-categorical_0.png)" in text and (tmp_path / "images" / "prior-categorical_0.png").is_file()


def test_the_card_states_how_a_learned_prior_was_trained():
    from infogan_hub.hub import objective_lines

    training = {"categorical_prior": "learned", "gumbel_temperature": 0.1, "prior_loss_weight": 0.0, "prior_em_rate": 0.002,
                "prior_min_share": 0.02, "prior_warmup_steps": 1000, "consistency_weight": 3.0, "consistency_marginal": "prior"}  # fmt: skip
    line = next(line for line in objective_lines(training) if line.startswith("learned categorical prior"))
    assert "expected generator loss" not in line  # its weight is 0
    assert "moves 0.002 of the way to Q's share of the batch's real images per category, with no category below 0.02" in line
    assert "uniform for the first 1000 steps" in line and "follow it rather than to be even" in line
    line = next(line for line in objective_lines(training | {"prior_loss_weight": 1.0, "consistency_marginal": "uniform"}) if line.startswith("learned"))
    assert "expected generator loss over its categories (weight 1.0)" in line and "asks real images' categories to be even" in line
    line = next(line for line in objective_lines(training | {"contrastive_weight": 10.0, "consistency_elastic_strength": 0.1}) if line.startswith("contrastive"))
    assert line.startswith("contrastive consistency on real images (Elastic-InfoGAN's NT-Xent), weight 10.0, temperature 1.0") and "bent up to 0.1 of the side" in line
    assert not any(line.startswith("contrastive") for line in objective_lines(training))
    line = next(line for line in objective_lines(training | {"overclustering_weight": 1.0, "overclustering_categories": 50}) if line.startswith("overclustering"))
    assert line.startswith("overclustering consistency on real images (IIC's overclustering head), weight 1.0: a second head on Q's hidden layer with 50 even categories")
    assert not any(line.startswith("overclustering") for line in objective_lines(training))
    line = next(line for line in objective_lines(training | {"consistency_size_barrier": 0.5}) if line.startswith("categorical consistency"))
    assert line.endswith("; beside it KL(uniform || Q's shares of those images), weight 0.5, a barrier against a category emptying")
    line = next(line for line in objective_lines(training | {"consistency_size_barrier": 0.5, "consistency_size_floor": 0.02}) if line.startswith("categorical consistency"))
    assert line.endswith("; beside it, weight 0.5, the mean over categories of max(0, log(0.02 / Q's share of those images)), a barrier against a category emptying")
    assert not any("barrier" in line for line in objective_lines(training))
    line = next(line for line in objective_lines(training | {"consistency_size_barrier": 0.5, "consistency_marginal_momentum": 0.99}) if line.startswith("categorical consistency"))
    assert line.endswith("a barrier against a category emptying; the size terms read Q's shares as a moving average over batches (momentum 0.99), not one batch's")
    assert not any("moving average" in line for line in objective_lines(training))
    line = next(line for line in objective_lines(training | {"prior_em_holdout": 0.1}) if line.startswith("learned"))
    assert "Q's share of a batch of the 10% of training images set aside for it (never trained on) per category" in line
