"""Real `accelerate launch training/train.py` runs on real MNIST, with small networks."""

import json
import math
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch
from safetensors.torch import load_file

from infogan_hub import InfoGANPipeline

from .conftest import REPOSITORY, VENV_BIN, accelerate_env, free_port

SMALL = ["--hidden_dim", "64", "--base_channels", "8", "--q_hidden_dim", "16", "--train_batch_size", "16",
         "--eval_num_samples", "200", "--report_to", "tensorboard", "--logging_steps", "2", "--sample_steps", "4"]  # fmt: skip


def launch(output_dir, *arguments, processes=1, check=True, extra_env=None, **popen):
    # two-process runs rendezvous on a port of their own, not accelerate's fixed 29500, as tests run in parallel
    distributed = (["--multi_gpu", "--num_processes", str(processes), "--main_process_port", str(free_port())]
                   if processes > 1 else ["--num_processes", "1"])  # fmt: skip
    command = [str(VENV_BIN / "accelerate"), "launch", *distributed, "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1", str(REPOSITORY / "training" / "train.py"),
               "--preset", "mnist", "--output_dir", str(output_dir), *SMALL, *arguments]  # fmt: skip
    if popen:
        return subprocess.Popen(command, env=accelerate_env(**(extra_env or {})), cwd=REPOSITORY, **popen)
    result = subprocess.run(command, env=accelerate_env(**(extra_env or {})), cwd=REPOSITORY, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"training failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def kill_launch(process):
    """SIGKILLs a launch(..., popen) and every worker: the launcher starts train.py as a child, and torch's
    elastic agent starts workers in sessions of their own, so killing the launcher or its process
    group alone would leave them training for a while."""
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for member in tree:
        member.send_signal(signal.SIGKILL)
    psutil.wait_procs(tree, timeout=30)
    process.wait()


def weights(output_dir, component):
    return load_file(output_dir / component / "diffusion_pytorch_model.safetensors")


def test_a_short_run_on_mnist_leaves_a_loadable_pipeline_and_its_records(tmp_path):
    result = launch(tmp_path, "--max_train_steps", "8", "--checkpointing_steps", "4", "--checkpoints_total_limit", "1",
                    "--hub_token=hf_secret_value")  # fmt: skip
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-8"]  # the limit removed checkpoint-4
    assert not list(tmp_path.glob(".partial-*"))
    results = json.loads((tmp_path / "evaluation_results.json").read_text())
    assert results["step"] == 8 and results["clustering"]["num_images"] == 10_000
    assert set(results["mutual_information_lower_bound"]) == {"categorical_0", "continuous_0", "continuous_1"}
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss/generator" in m] == [2, 4, 6, 8]
    assert {"ms_per_step/discriminator", "lower_bound/categorical_0"} <= set(metrics[0])
    assert sorted(path.name for path in (tmp_path / "samples").iterdir())[:2] == ["step-000004-continuous_0.png", "step-000004-continuous_1.png"]
    assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    config = json.loads((tmp_path / "training_config.json").read_text())
    assert config["command"].startswith("accelerate launch training/train.py --preset mnist") and config["dataset"] == "mnist"
    assert "hf_secret_value" not in (tmp_path / "training_config.json").read_text() and "--hub_token=<token>" in config["command"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout.strip()
    assert config["code_revision"] in (head, f"{head}-dirty")  # which code made the model, for its card
    assert (config["torch_version"], config["cpu_capability"]) == (torch.__version__, torch.backends.cpu.get_cpu_capability())  # and which kernels
    pipe = InfoGANPipeline.from_pretrained(tmp_path)
    assert pipe.image_generator.config.hidden_dim == 64
    assert pipe(batch_size=2, output_type="np").images.shape == (2, 28, 28, 1)
    assert "steps: 100%" in result.stderr  # the progress bar


def test_an_evaluation_classifier_built_while_a_run_trains_measures_the_evaluations_after_it(tmp_path):
    from infogan_hub.data import data_cache_dir

    # the data without its classifier, as while `run.sh setup` still builds it
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist.npz").symlink_to(data_cache_dir() / "mnist.npz")
    run = launch(tmp_path / "run", "--max_train_steps", "10000", "--eval_steps", "2", "--eval_num_samples", "100",
                 extra_env={"INFOGAN_HUB_DATA": str(cache)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def evaluations():
        metrics = tmp_path / "run" / "metrics.jsonl"
        lines = metrics.read_text().splitlines() if metrics.is_file() else []
        return [m for m in map(json.loads, lines) if "eval/elapsed_seconds" in m]

    def wait_for(condition):
        deadline = time.monotonic() + 300
        while not condition(found := evaluations()):
            assert run.poll() is None and time.monotonic() < deadline, "the run ended or stalled before its evaluations showed it"
            time.sleep(0.5)
        return found

    try:
        before = wait_for(lambda found: found)
        assert "eval/generated_accuracy" not in before[0]
        (cache / "classifier-mnist.safetensors").symlink_to(data_cache_dir() / "classifier-mnist.safetensors")
        after = wait_for(lambda found: "eval/generated_accuracy" in found[-1])
        assert after[-1]["step"] > before[0]["step"] and 0 <= after[-1]["eval/generated_accuracy"] <= 1
    finally:
        kill_launch(run)


def test_seeded_runs_repeat_and_a_resumed_run_matches_an_uninterrupted_one(tmp_path):
    straight, interrupted, again = tmp_path / "straight", tmp_path / "interrupted", tmp_path / "again"
    warmup = ["--continuous_warmup_steps", "8", "--continuous_weight", "0.1"]  # the ramp spans the interruption
    launch(straight, "--max_train_steps", "8", "--checkpointing_steps", "4", *warmup)
    launch(again, "--max_train_steps", "8", "--checkpointing_steps", "4", *warmup)
    launch(interrupted, "--max_train_steps", "4", "--checkpointing_steps", "4", *warmup)
    result = launch(interrupted, "--max_train_steps", "8", "--checkpointing_steps", "4", "--resume_from_checkpoint", "latest", *warmup)
    assert "Resumed from" in result.stdout + result.stderr
    for run in (straight, interrupted):  # logged at steps 2, 4, 6, 8: the weight used in steps 1, 3, 5, 7 (from 0)
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [m["weight/continuous"] for m in metrics if "weight/continuous" in m] == pytest.approx([0, 0, 0.025, 0.075])
    for component in ("image_generator", "discriminator"):
        expected = weights(straight, component)
        for other in (again, interrupted):
            got = weights(other, component)
            assert all(torch.equal(got[name], expected[name]) for name in expected), f"{other.name}/{component} differs"


def test_candidate_runs_carry_on_the_most_consistent_one_as_the_run_its_seed_gives(tmp_path):
    chosen_run, plain = tmp_path / "chosen", tmp_path / "plain"
    launch(chosen_run, "--max_train_steps", "6", "--checkpointing_steps", "2", "--candidate_runs", "2", "--candidate_steps", "2", "--seed", "3")
    record = json.loads((chosen_run / "candidates.json").read_text())
    candidates = {candidate["seed"]: candidate for candidate in record["candidates"]}
    assert sorted(candidates) == [3, 1_000_003] and record["step"] == 2 and record["criterion"] == "consistency_mutual_information"
    assert record["chosen_seed"] == max(candidates, key=lambda seed: candidates[seed]["consistency_mutual_information"])
    assert candidates[3]["consistency_mutual_information"] != candidates[1_000_003]["consistency_mutual_information"]
    for seed, candidate in candidates.items():
        folder = chosen_run / "candidates" / f"seed-{seed}"
        assert json.loads((folder / "evaluation_results.json").read_text())["step"] == 2
        assert candidate["accuracy"] == json.loads((folder / "evaluation_results.json").read_text())["clustering"]["codes"]["categorical_0"]["accuracy"]
        assert -1e-6 <= candidate["consistency_mutual_information"] <= math.log(10) + 1e-6
    config = json.loads((chosen_run / "training_config.json").read_text())
    assert config["seed"] == record["chosen_seed"] and "--candidate_runs 2" in config["command"]
    assert json.loads((chosen_run / "evaluation_results.json").read_text())["step"] == 6
    metrics = [json.loads(line) for line in (chosen_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss/generator" in m] == [2, 4, 6]  # the chosen candidate's history, then the run's
    # carrying on the chosen candidate trains what one run with its seed does
    launch(plain, "--max_train_steps", "6", "--checkpointing_steps", "2", "--seed", str(record["chosen_seed"]))
    for component in ("image_generator", "discriminator"):
        expected, got = weights(plain, component), weights(chosen_run, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs"
    # a second launch finds the choice made and the run finished: it neither trains candidates again nor chooses again
    before = (chosen_run / "candidates.json").read_text()
    result = launch(chosen_run, "--max_train_steps", "6", "--checkpointing_steps", "2", "--candidate_runs", "2", "--candidate_steps", "2", "--seed", "3")
    assert (chosen_run / "candidates.json").read_text() == before and "Resumed from" in result.stdout + result.stderr
    # a folder holding a checkpoint after the choice but not its record (a branch of the run) carries on
    # with the seed that checkpoint was trained with, training no candidates
    branch = tmp_path / "branch"
    shutil.copytree(chosen_run / "checkpoint-4", branch / "checkpoint-4")
    launch(branch, "--max_train_steps", "6", "--checkpointing_steps", "2", "--candidate_runs", "2", "--candidate_steps", "2", "--seed", "3")
    assert not (branch / "candidates").exists() and json.loads((branch / "training_config.json").read_text())["seed"] == record["chosen_seed"]
    for component in ("image_generator", "discriminator"):
        expected, got = weights(plain, component), weights(branch, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs in the branch"
    # killed while training the second candidate, before the choice: the first is kept, the second trained again, the same choice made
    first, second = (chosen_run / "candidates" / f"seed-{seed}" for seed in (3, 1_000_003))
    for path in [chosen_run / "candidates.json", *chosen_run.glob("checkpoint-*"), second / "evaluation_results.json", *second.glob("checkpoint-*")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    first_written = (first / "evaluation_results.json").stat().st_mtime_ns
    launch(chosen_run, "--max_train_steps", "6", "--checkpointing_steps", "2", "--candidate_runs", "2", "--candidate_steps", "2", "--seed", "3")
    assert (first / "evaluation_results.json").stat().st_mtime_ns == first_written and (second / "evaluation_results.json").exists()
    def choice(record):  # the scores and the choice, not the time the retrained candidate took
        return record["chosen_seed"], [{key: value for key, value in candidate.items() if key != "elapsed_seconds"} for candidate in record["candidates"]]

    assert choice(json.loads((chosen_run / "candidates.json").read_text())) == choice(json.loads(before))
    for component in ("image_generator", "discriminator"):
        expected, got = weights(plain, component), weights(chosen_run, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs after the resumed choice"


def test_info_weight_zero_is_the_plain_gan_whose_q_still_measures(tmp_path):
    """The paper's Figure 1 baseline: G ignores the information term, Q is still trained to measure L_I."""
    plain, info = tmp_path / "plain", tmp_path / "info"
    launch(plain, "--max_train_steps", "6", "--info_weight", "0")
    launch(info, "--max_train_steps", "6")
    sys.path.insert(0, str(REPOSITORY / "training"))
    import train

    torch.manual_seed(0)
    _, initial = train.build_models(train.parse_args(["--preset", "mnist", *SMALL]))
    q_weight = weights(plain, "discriminator")["q_head.3.weight"]
    assert not torch.equal(q_weight, initial.state_dict()["q_head.3.weight"]), "Q must still learn to measure L_I"
    # the first D step is identical in both runs; they part where G's objective differs
    plain_generator, info_generator = weights(plain, "image_generator"), weights(info, "image_generator")
    assert not torch.equal(plain_generator["layers.0.weight"], info_generator["layers.0.weight"])
    metrics = [json.loads(line) for line in (plain / "metrics.jsonl").read_text().splitlines()]
    assert all("lower_bound/categorical_0" in m for m in metrics if "loss/generator" in m)


def test_two_processes_train_sharded_survive_sigkill_and_resume(tmp_path):
    # All checkpoints are kept (limit 0), so checkpoint-10 cannot be rotated away before it is seen.
    # A learned prior set by the M-step: unless Q's shares are averaged over the processes, their
    # priors part and the final check that parameters are identical fails.
    # Each process reads its own shard of the set-aside images for it.
    learned = ["--categorical_prior", "learned", "--prior_em_rate", "0.2", "--prior_warmup_steps", "0", "--prior_em_holdout", "0.05"]
    process = launch(tmp_path, "--max_train_steps", "100000", "--checkpointing_steps", "5", "--checkpoints_total_limit", "0", *learned,
                     processes=2, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 240
    while not (tmp_path / "checkpoint-10").exists():
        assert process.poll() is None, process.stdout.read().decode()[-4000:]
        assert time.monotonic() < deadline, "no checkpoint-10 within 4 minutes"
        time.sleep(0.2)
    kill_launch(process)
    assert (tmp_path / "checkpoint-10" / "random_states_1.pkl").exists()  # every rank saved its state

    latest = max(int(path.name.split("-")[1]) for path in tmp_path.glob("checkpoint-*"))
    target = latest + 10
    result = launch(tmp_path, "--max_train_steps", str(target), "--checkpointing_steps", "5", "--checkpoints_total_limit", "0",
                    "--resume_from_checkpoint", "latest", *learned, processes=2)  # fmt: skip
    output = result.stdout + result.stderr
    assert f"Resumed from {tmp_path / f'checkpoint-{latest}'} at step {latest}." in output
    assert "Parameters identical on all 2 processes." in output
    assert json.loads((tmp_path / "evaluation_results.json").read_text())["step"] == target
    assert (tmp_path / f"checkpoint-{target}").is_dir() and not list(tmp_path.glob(".partial-*"))
    assert json.loads((tmp_path / "training_config.json").read_text())["num_processes"] == 2


def test_a_learned_prior_is_trained_saved_and_measured(tmp_path):
    # with Elastic-InfoGAN's consistency term beside IIC's, the barrier against an emptying category and IIC's overclustering head
    launch(tmp_path, "--max_train_steps", "6", "--categorical_prior", "learned", "--gumbel_temperature", "0.5", "--prior_warmup_steps", "0", "--contrastive_weight", "10",
           "--consistency_size_barrier", "0.5", "--overclustering_weight", "1", "--overclustering_categories", "30")  # fmt: skip
    logits = weights(tmp_path, "image_generator")["categorical_prior_logits"]
    assert logits.shape == (10,) and logits.abs().max() > 0, "the generator's loss moved the prior away from uniform"
    results = json.loads((tmp_path / "evaluation_results.json").read_text())
    prior = torch.tensor(results["categorical_prior"]["categorical_0"])
    assert torch.allclose(prior, logits.float().softmax(dim=0), atol=1e-6)
    assert results["categorical_entropy"]["categorical_0"] == pytest.approx(-(prior * prior.log()).sum().item(), abs=1e-5)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < m["prior_entropy/categorical_0"] <= 2.3026 for m in metrics if "loss/generator" in m)
    assert all(0 < m["consistency/contrastive"] < 10 for m in metrics if "loss/generator" in m)  # ln(2 x 16 - 1) = 3.4 at chance
    assert all(0 < m["consistency/size_barrier"] < 1 for m in metrics if "loss/generator" in m)  # an untrained Q's shares are near even: 0 there
    # I(c; c') of the 30-way head: 0 for an untrained Q, ln 30 = 3.4 at most
    assert all(-0.1 < m["consistency/overclustering_mutual_information"] <= 3.41 for m in metrics if "loss/generator" in m)
    assert weights(tmp_path, "discriminator")["q_overclustering_head.weight"].shape == (30, 16)  # --q_hidden_dim 16
    assert json.loads((tmp_path / "training_config.json").read_text())["categorical_prior"] == "learned"
    assert InfoGANPipeline.from_pretrained(tmp_path).latent_spec.categorical_prior == "learned"


def test_a_learned_prior_stays_uniform_through_its_warmup_and_then_follows_q_above_its_floor(tmp_path):
    launch(tmp_path / "warm", "--max_train_steps", "3", "--categorical_prior", "learned", "--gumbel_temperature", "0.5",
           "--prior_loss_weight", "1", "--prior_em_rate", "1", "--prior_warmup_steps", "3")  # fmt: skip
    assert torch.equal(weights(tmp_path / "warm", "image_generator")["categorical_prior_logits"], torch.zeros(10))
    # At rate 1 each step sets the prior to 0.1 x Q's shares + 0.09: moved off uniform, never below the floor.
    launch(tmp_path / "em", "--max_train_steps", "3", "--categorical_prior", "learned", "--prior_loss_weight", "0",
           "--prior_em_rate", "1", "--prior_min_share", "0.09", "--prior_warmup_steps", "0", "--consistency_marginal", "uniform")  # fmt: skip
    prior = weights(tmp_path / "em", "image_generator")["categorical_prior_logits"].float().softmax(dim=0)
    assert prior.min() >= 0.09 - 1e-3 and prior.max() <= 0.19 + 1e-3 and (prior - 0.1).abs().max() > 1e-4
    assert json.loads((tmp_path / "em" / "training_config.json").read_text())["consistency_marginal"] == "uniform"


def test_running_shares_are_checkpointed_so_a_resumed_run_matches_an_uninterrupted_one(tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    running = ["--categorical_prior", "learned", "--prior_warmup_steps", "0", "--prior_em_rate", "0.2", "--consistency_size_barrier", "0.5",
               "--consistency_size_floor", "0.05", "--consistency_marginal_momentum", "0.9", "--checkpointing_steps", "4"]  # fmt: skip
    launch(straight, "--max_train_steps", "8", *running)
    launch(interrupted, "--max_train_steps", "4", *running)
    shares = json.loads((interrupted / "checkpoint-4" / "training_state.json").read_text())["consistency_running_shares"]
    assert len(shares) == 10 and sum(shares) == pytest.approx(1 - 0.9**4, rel=1e-4)  # four batches' shares, not yet bias-corrected
    launch(interrupted, "--max_train_steps", "8", "--resume_from_checkpoint", "latest", *running)
    for component in ("image_generator", "discriminator"):
        expected, got = weights(straight, component), weights(interrupted, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs after resuming"
    metrics = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < m["consistency/smallest_running_share"] <= 0.1 for m in metrics if "loss/generator" in m)
    # a checkpoint from before the option (its settings lack it, so they are not compared) cannot be
    # resumed with the moving average: its shares were never kept
    per_batch = [argument for argument in running if argument not in ("--consistency_marginal_momentum", "0.9")]
    launch(tmp_path / "old", "--max_train_steps", "4", *per_batch)
    state_file = tmp_path / "old" / "checkpoint-4" / "training_state.json"
    state = json.loads(state_file.read_text())
    del state["settings"]["consistency_marginal_momentum"]
    state_file.write_text(json.dumps(state))
    result = launch(tmp_path / "old", "--max_train_steps", "8", "--resume_from_checkpoint", "latest", *running, check=False)
    assert result.returncode != 0 and "was written without --consistency_marginal_momentum; resume it without that option" in result.stderr


def test_an_oversized_category_is_split_recorded_and_a_resumed_run_makes_the_same_split(tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    # at this size and step Q's decisions are far from even, so a category holds more than 11%
    split = ["--categorical_prior", "learned", "--prior_warmup_steps", "0", "--category_split_share", "0.11", "--category_split_steps", "3", "--checkpointing_steps", "2"]
    launch(straight, "--max_train_steps", "4", *split)
    launch(interrupted, "--max_train_steps", "2", *split)
    launch(interrupted, "--max_train_steps", "4", "--resume_from_checkpoint", "latest", *split)
    for component in ("image_generator", "discriminator"):
        expected, got = weights(straight, component), weights(interrupted, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs after resuming"
    splits = [m for m in map(json.loads, (straight / "metrics.jsonl").read_text().splitlines()) if "category_split/categorical_0/source" in m]
    assert len(splits) == 1 and splits[0]["step"] == 3
    record = splits[0]
    assert record["category_split/categorical_0/source_share"] > 0.11 >= record["category_split/categorical_0/target_share"]
    assert record["category_split/categorical_0/source"] != record["category_split/categorical_0/target"]
    # without the option the same run makes no split, and its weights differ from step 3 on
    launch(tmp_path / "plain", "--max_train_steps", "4", *split[: split.index("--category_split_share")], "--checkpointing_steps", "2")
    assert "category_split" not in (tmp_path / "plain" / "metrics.jsonl").read_text()
    assert not torch.equal(weights(tmp_path / "plain", "discriminator")["q_head.3.weight"], weights(straight, "discriminator")["q_head.3.weight"])


def test_categories_are_re_clustered_at_their_step_and_a_run_resumed_there_re_clusters_as_it_did(tmp_path):
    straight, interrupted, plain = tmp_path / "straight", tmp_path / "interrupted", tmp_path / "plain"
    learned = ["--categorical_prior", "learned", "--prior_warmup_steps", "2", "--checkpointing_steps", "2"]
    result = launch(straight, "--max_train_steps", "4", *learned, "--category_recluster_step", "2")
    assert "step 2: categorical_0 re-clustered on D's trunk features" in result.stdout + result.stderr
    # killed at step 2, before the re-cluster: resumed from checkpoint-2 it re-clusters there as the straight run did
    launch(interrupted, "--max_train_steps", "2", *learned, "--category_recluster_step", "2")
    launch(interrupted, "--max_train_steps", "4", "--resume_from_checkpoint", "latest", *learned, "--category_recluster_step", "2")
    for component in ("image_generator", "discriminator"):
        expected, got = weights(straight, component), weights(interrupted, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs after resuming"
    records = [m for m in map(json.loads, (straight / "metrics.jsonl").read_text().splitlines()) if "category_recluster/categorical_0/kept" in m]
    assert [m["step"] for m in records] == [2]
    assert 0 <= records[0]["category_recluster/categorical_0/kept"] <= 1 and 0.5 < records[0]["category_recluster/categorical_0/read"] <= 1
    # without it the prior leaves uniform by the M-step's small moves alone; with it, it starts from the new categories' shares
    launch(plain, "--max_train_steps", "4", *learned)
    assert "category_recluster" not in (plain / "metrics.jsonl").read_text()
    spread = lambda run: float(InfoGANPipeline.from_pretrained(run).categorical_prior()[0].std())  # noqa: E731
    assert spread(straight) > 2 * spread(plain)


def test_the_re_cluster_s_copies_take_the_consistency_term_s_elastic_warp_unless_told_another(tmp_path):
    learned = ["--max_train_steps", "3", "--categorical_prior", "learned", "--prior_warmup_steps", "2", "--category_recluster_step", "2"]
    runs = {strength: tmp_path / f"elastic-{strength}" for strength in ("default", "0.1", "0")}
    for strength, run in runs.items():
        launch(run, *learned, *([] if strength == "default" else ["--category_recluster_elastic_strength", strength]))
    q_weights = {strength: weights(run, "discriminator")["q_head.3.weight"] for strength, run in runs.items()}
    # the consistency term's strength (0.1) is the default; without the warp Q is refitted on other copies
    assert torch.equal(q_weights["0.1"], q_weights["default"]) and not torch.equal(q_weights["0"], q_weights["default"])
    assert json.loads((runs["0"] / "training_config.json").read_text())["category_recluster_elastic_strength"] == 0.0


def test_a_code_whose_re_clusters_disagree_keeps_its_categories_and_the_run_is_the_plain_one(tmp_path):
    learned = ["--max_train_steps", "4", "--categorical_prior", "learned", "--prior_warmup_steps", "2"]
    guarded, plain = tmp_path / "guarded", tmp_path / "plain"
    result = launch(guarded, *learned, "--category_recluster_step", "2", "--category_recluster_draws", "3", "--category_recluster_min_agreement", "1",
                    "--category_recluster_linkage", "modularity")
    assert "step 2: categorical_0 keeps Q's categories: its 3 re-clusters (modularity linkage) agree at" in result.stdout + result.stderr
    records = [m for m in map(json.loads, (guarded / "metrics.jsonl").read_text().splitlines()) if "category_recluster/categorical_0/agreement" in m]
    assert len(records) == 1 and records[0]["category_recluster/categorical_0/applied"] == 0.0
    assert records[0]["category_recluster/categorical_0/agreement"] < 1
    # reading D in eval mode draws nothing from the run's random streams: the run goes on as one without the option
    launch(plain, *learned)
    for component in ("image_generator", "discriminator"):
        expected, got = weights(plain, component), weights(guarded, component)
        assert all(torch.equal(got[name], expected[name]) for name in expected), f"{component} differs from the plain run"


def test_two_processes_re_cluster_alike(tmp_path):
    # BatchNorm's running statistics differ between the processes; the main process's re-cluster is given to both
    result = launch(tmp_path, "--max_train_steps", "4", "--categorical_prior", "learned", "--prior_warmup_steps", "2", "--category_recluster_step", "2", processes=2)
    assert "step 2: categorical_0 re-clustered" in result.stdout + result.stderr
    assert "Parameters identical on all 2 processes." in result.stdout + result.stderr


def split_checks(run):
    """The records of a run's category split checks (metrics.jsonl lines with category_split/ keys)."""
    return [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if any(key.startswith("category_split/") for key in m)]


def test_the_most_bimodal_category_is_recorded_at_each_check_and_split_above_the_score(tmp_path):
    # no category is oversized at a share of 0.99, so only the bimodality rule can split
    bimodal = ["--categorical_prior", "learned", "--prior_warmup_steps", "0", "--category_split_share", "0.99", "--category_split_steps", "2", "3"]
    launch(tmp_path / "recorded", "--max_train_steps", "4", *bimodal, "--category_split_bimodality", "0.999")
    recorded = split_checks(tmp_path / "recorded")
    assert [m["step"] for m in recorded] == [2, 3]
    assert all(0 < m["category_split/categorical_0/bimodality"] <= 0.999 for m in recorded)
    assert not any("category_split/categorical_0/source" in m for m in recorded)
    # with the score just below what step 2 read (above one Gaussian mode's at this size), step 2
    # splits that category in place of the smallest, and the run goes another way from there
    threshold = recorded[0]["category_split/categorical_0/bimodality"] - 1e-6
    assert threshold > 2 / math.pi
    launch(tmp_path / "split", "--max_train_steps", "4", *bimodal, "--category_split_bimodality", str(threshold))
    split = [m for m in split_checks(tmp_path / "split") if "category_split/categorical_0/source" in m]
    assert [m["step"] for m in split] == [2, 3]
    assert split[0]["category_split/categorical_0/source"] == recorded[0]["category_split/categorical_0/bimodal_category"]
    assert split[0]["category_split/categorical_0/target_share"] <= split[0]["category_split/categorical_0/source_share"]
    assert not torch.equal(weights(tmp_path / "split", "discriminator")["q_head.3.weight"], weights(tmp_path / "recorded", "discriminator")["q_head.3.weight"])


def test_the_most_promising_re_cut_is_recorded_at_each_check_and_made_below_the_gain(tmp_path):
    # an untrained Q's copies cross its categories often; no invariant cut halves that (gain 0.5)
    recut = ["--categorical_prior", "learned", "--prior_warmup_steps", "0", "--category_recut_crossing", "0.01", "--category_split_steps", "2", "3"]
    launch(tmp_path / "recorded", "--max_train_steps", "4", *recut, "--category_recut_gain", "0.5")
    recorded = split_checks(tmp_path / "recorded")
    assert [m["step"] for m in recorded] == [2, 3]
    assert all(m["category_split/categorical_0/recut_crossing"] > 0.01 and m["category_split/categorical_0/recut_gain"] >= 0.5 for m in recorded)
    assert not any("category_split/categorical_0/source" in m for m in recorded)
    # with the gain just above what step 2 read, step 2 re-cuts that pair, and the run goes another way from there
    gain = recorded[0]["category_split/categorical_0/recut_gain"] + 1e-6
    launch(tmp_path / "recut", "--max_train_steps", "4", *recut, "--category_recut_gain", str(gain))
    made = [m for m in split_checks(tmp_path / "recut") if "category_split/categorical_0/source" in m]
    assert made and made[0]["step"] == 2
    assert made[0]["category_split/categorical_0/source_share"] >= made[0]["category_split/categorical_0/target_share"] >= 0.02
    assert not torch.equal(weights(tmp_path / "recut", "discriminator")["q_head.3.weight"], weights(tmp_path / "recorded", "discriminator")["q_head.3.weight"])


def test_a_satellite_is_read_at_each_check_and_gives_its_place_above_the_leaving_rate(tmp_path):
    # three categories: in ten, an untrained Q leaves the smallest empty, and an empty category is no satellite
    satellite = ["--categorical_prior", "learned", "--prior_warmup_steps", "0", "--categorical_codes", "3", "--category_split_steps", "2", "3"]
    launch(tmp_path / "recorded", "--max_train_steps", "4", *satellite, "--category_satellite_leaving", "0.999")
    recorded = split_checks(tmp_path / "recorded")
    assert [m["step"] for m in recorded] == [2, 3]
    assert all(0 <= m["category_split/categorical_0/satellite_leaving"] <= 0.999 and 0 <= m["category_split/categorical_0/satellite_source_cut_crossing"] <= 1 for m in recorded)
    assert not any("category_split/categorical_0/source" in m for m in recorded)
    # with the rate just below what step 2 read, step 2 gives the smallest category's place to a category of at least 5%
    leaving = recorded[0]["category_split/categorical_0/satellite_leaving"] - 1e-6
    launch(tmp_path / "split", "--max_train_steps", "4", *satellite, "--category_satellite_leaving", str(leaving))
    made = [m for m in split_checks(tmp_path / "split") if "category_split/categorical_0/source" in m]
    assert made and made[0]["step"] == 2
    assert made[0]["category_split/categorical_0/source_share"] >= max(0.05, made[0]["category_split/categorical_0/target_share"])
    assert not torch.equal(weights(tmp_path / "split", "discriminator")["q_head.3.weight"], weights(tmp_path / "recorded", "discriminator")["q_head.3.weight"])


def test_split_checks_reads_a_kept_checkpoint_as_the_run_s_check_read_it(tmp_path):
    # benchmarks/split_checks.py tells, with the labels, what each check saw: its reading must be train.py's
    launch(tmp_path, "--max_train_steps", "4", "--checkpointing_steps", "2", "--categorical_prior", "learned", "--prior_warmup_steps", "0",
           "--categorical_codes", "3", "--category_satellite_leaving", "0.999", "--category_split_steps", "2")  # fmt: skip
    recorded = split_checks(tmp_path)[0]
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    import split_checks as checks_module

    report = checks_module.main([str(tmp_path), "--satellite_leavings", "0", "0.999", "--results", str(tmp_path / "checks.json")])[str(tmp_path)]
    written = json.loads((tmp_path / "checks.json").read_text())[str(tmp_path)]
    assert [state["step"] for state in report["checks"]] == [state["step"] for state in written["checks"]] == [2, 4]  # checkpoint-2 and the final model
    assert written["fires"].keys() == report["fires"].keys()
    at_two = report["checks"][0]
    assert at_two["satellite"]["leaving"] == pytest.approx(recorded["category_split/categorical_0/satellite_leaving"])
    assert at_two["satellite"]["source_cut_crossing"] == pytest.approx(recorded["category_split/categorical_0/satellite_source_cut_crossing"])
    categories = at_two["categories"]
    assert sum(category["share"] for category in categories) == pytest.approx(1.0)
    smallest = min(categories, key=lambda category: category["share"])
    assert smallest["category"] == at_two["satellite"]["target"] and smallest["leaving"] == pytest.approx(at_two["satellite"]["leaving"])
    fires = report["fires"]
    assert fires["satellite 0.0"]["step"] == 2 and fires["satellite 0.0"]["source"] == at_two["satellite"]["source"]
    assert fires["satellite 0.999"] is None  # as the run, which split nothing
    assert not any("category_split/categorical_0/source" in m for m in split_checks(tmp_path))


@pytest.mark.parametrize("repair", [["--category_split_share", "0.11"], ["--category_satellite_leaving", "0.01", "--categorical_codes", "3"], ["--category_recut_crossing", "0.01", "--category_recut_gain", "10"]],
                         ids=["split", "satellite", "re-cut"])  # fmt: skip
def test_two_processes_make_the_same_split(tmp_path, repair):
    # each process reads the same images (and the same transformed copies) with the same weights, so the replicas stay identical
    result = launch(tmp_path, "--max_train_steps", "4", "--categorical_prior", "learned", "--prior_warmup_steps", "0",
                    *repair, "--category_split_steps", "3", processes=2)  # fmt: skip
    assert "Parameters identical on all 2 processes." in result.stdout + result.stderr
    splits = [m for m in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "category_split/categorical_0/source" in m]
    assert [m["step"] for m in splits] == [3]


def test_the_m_step_reads_q_on_the_set_aside_images(tmp_path):
    from infogan_hub import categorical_shares
    from infogan_hub.data import load_dataset

    train = _train_module()
    # One step at rate 1: the prior is Q's share, per category, of the first set-aside batch, as read
    # by the D that step left (the generator step does not change D's weights; a vanishing learning
    # rate keeps the Gumbel path from moving the prior after it).
    launch(tmp_path, "--max_train_steps", "1", "--categorical_prior", "learned", "--prior_em_rate", "1", "--prior_warmup_steps", "0",
           "--prior_em_holdout", "0.01", "--learning_rate_prior", "1e-12", "--seed", "3")  # fmt: skip
    prior = weights(tmp_path, "image_generator")["categorical_prior_logits"].float().softmax(dim=0)
    _, holdout = train.split_holdout(load_dataset("mnist", "train"), 0.01, seed=3, batch_size=16, process_index=0, world=1)
    discriminator = InfoGANPipeline.from_pretrained(tmp_path).discriminator.train()  # batch statistics, as the M-step
    with torch.no_grad():
        shares = categorical_shares(discriminator.infer_codes(holdout.batch(torch.arange(16))).categorical_logits, hard=True)
    assert torch.allclose(prior, shares, atol=1e-5), (prior, shares)


def test_set_aside_images_are_never_trained_on_and_too_few_are_refused():
    from infogan_hub.data import ImageDataset

    train = _train_module()
    dataset = ImageDataset(torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1), torch.arange(100), "numbers")
    kept, first = train.split_holdout(dataset, 0.2, seed=1, batch_size=5, process_index=0, world=2)
    _, second = train.split_holdout(dataset, 0.2, seed=1, batch_size=5, process_index=1, world=2)
    assert len(kept) == 80 and len(first) == len(second) == 10
    assert sorted([*kept.labels.tolist(), *first.labels.tolist(), *second.labels.tolist()]) == list(range(100))
    assert torch.equal(kept.images.flatten().long(), kept.labels)  # images keep their labels
    assert torch.equal(train.split_holdout(dataset, 0.2, seed=1, batch_size=5, process_index=0, world=2)[1].labels, first.labels)
    with pytest.raises(SystemExit, match="sets aside 10 of 100 images: fewer than one batch of 8 on each of 2 processes. Give a fraction of at least 0.16"):
        train.split_holdout(dataset, 0.1, seed=1, batch_size=8, process_index=0, world=2)


def test_bad_arguments_get_clear_errors(tmp_path):
    result = launch(tmp_path, "--preset", "nonesuch", check=False)
    assert result.returncode != 0 and "Unknown preset 'nonesuch'" in result.stderr
    result = launch(tmp_path, "--dataset", str(tmp_path / "no-such-folder"), "--max_train_steps", "1", check=False)
    assert result.returncode != 0 and "no-such-folder" in result.stderr
    result = launch(tmp_path, "--push_to_hub", check=False)
    assert "--push_to_hub needs --hub_model_id" in result.stderr


def _train_module():
    sys.path.insert(0, str(REPOSITORY / "training"))
    import train

    return train


def test_negative_weights_and_warmups_are_refused_with_what_is_allowed():
    train = _train_module()
    for argument, value in (("--continuous_warmup_steps", "-5"), ("--consistency_weight", "-1"), ("--consistency_stroke_width", "-1"), ("--contrastive_weight", "-1"), ("--consistency_size_barrier", "-1"), ("--overclustering_weight", "-1")):
        with pytest.raises(SystemExit, match=f"{argument} must be 0 \\(off\\) or positive, got {value}"):
            train.parse_args(["--preset", "mnist", argument, value])
    with pytest.raises(SystemExit, match="--prior_loss_weight must be 0 \\(off\\) or positive, got -1.0"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--prior_loss_weight", "-1"])
    with pytest.raises(SystemExit, match="--prior_matching_weight must be 0 \\(off\\) or positive, got -2.0"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--prior_matching_weight", "-2"])
    with pytest.raises(SystemExit, match="--prior_min_share must be at least 0 and below 1/10 \\(one over the most categories of a code\\), got 0.1"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--prior_min_share", "0.1"])
    with pytest.raises(SystemExit, match="--prior_warmup_steps must be 0 \\(off\\) or positive, got -1"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--prior_warmup_steps", "-1"])
    for value in ("-0.1", "1.5"):
        with pytest.raises(SystemExit, match=f"--prior_em_rate must be 0 \\(off\\) or in \\(0, 1\\], got {value}"):
            train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--prior_em_rate", value])
    for value in ("-0.1", "1"):
        with pytest.raises(SystemExit, match=f"--prior_em_holdout must be 0 \\(off\\) or a fraction in \\(0, 1\\), got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--prior_em_holdout", value])
    with pytest.raises(SystemExit, match="--prior_em_holdout sets images aside for the M-step: it needs --categorical_prior learned and --prior_em_rate above 0"):
        train.parse_args(["--preset", "mnist", "--prior_em_holdout", "0.1"])
    with pytest.raises(SystemExit, match="--learning_rate_prior must be positive, got 0.0"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--learning_rate_prior", "0"])
    with pytest.raises(SystemExit, match="--consistency_size_barrier acts on the consistency term's categories: it needs --consistency_weight above 0"):
        train.parse_args(["--preset", "mnist_paper", "--consistency_size_barrier", "0.5"])
    with pytest.raises(SystemExit, match="--consistency_size_floor bounds the size barrier: it needs --consistency_size_barrier above 0"):
        train.parse_args(["--preset", "mnist", "--consistency_size_floor", "0.02"])
    for value in ("0", "0.2"):
        with pytest.raises(SystemExit, match=f"--consistency_size_floor must be in \\(0, 1/10\\] \\(one over the consistency term's categories\\), got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--consistency_size_barrier", "0.5", "--consistency_size_floor", value])
    assert train.parse_args(["--preset", "mnist", "--consistency_size_barrier", "0.5", "--consistency_size_floor", "0.1"]).consistency_size_floor == 0.1
    for value in ("-0.1", "1"):
        with pytest.raises(SystemExit, match=f"--consistency_marginal_momentum must be 0 \\(off: each batch's shares\\) or in \\(0, 1\\), got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--consistency_marginal_momentum", value])
    with pytest.raises(SystemExit, match="--consistency_marginal_momentum averages the consistency term's category shares: it needs --consistency_weight above 0"):
        train.parse_args(["--preset", "mnist_paper", "--consistency_marginal_momentum", "0.99"])
    with pytest.raises(SystemExit, match="--overclustering_categories must be at least 2 \\(IIC on MNIST: 50, more than the data has classes\\), got 1"):
        train.parse_args(["--preset", "mnist", "--overclustering_weight", "1", "--overclustering_categories", "1"])
    with pytest.raises(SystemExit, match="--contrastive_temperature must be positive, got 0.0"):
        train.parse_args(["--preset", "mnist", "--contrastive_weight", "1", "--contrastive_temperature", "0"])
    with pytest.raises(SystemExit, match="--gumbel_temperature must be positive, got 0.0"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--gumbel_temperature", "0"])
    with pytest.raises(SystemExit, match="needs a categorical code"):
        train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--categorical_codes"])
    with pytest.raises(SystemExit, match="--candidate_runs must be 1 \\(one run\\) or more, got 0"):
        train.parse_args(["--preset", "mnist", "--candidate_runs", "0"])
    with pytest.raises(SystemExit, match="--candidate_runs chooses by how consistently Q's first categorical code sorts real images: it needs --categorical_codes"):
        train.parse_args(["--preset", "mnist_paper", "--candidate_runs", "2", "--categorical_codes"])
    for value in ("0", "750"):
        with pytest.raises(SystemExit, match=f"--candidate_steps must be a positive multiple of --checkpointing_steps \\(500\\), so the chosen run carries on from its checkpoint; got {value}"):
            train.parse_args(["--preset", "mnist", "--candidate_runs", "2", "--candidate_steps", value])
    with pytest.raises(SystemExit, match="--candidate_steps \\(1000\\) must be below --max_train_steps \\(1000\\): the chosen candidate carries on to the end"):
        train.parse_args(["--preset", "mnist", "--candidate_runs", "2", "--max_train_steps", "1000"])
    for value in ("0.1", "1"):
        with pytest.raises(SystemExit, match=f"--category_split_share must be 0 \\(off\\) or in \\(1/10, 1\\): above the even share, or every code would split at once; got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--category_split_share", value])
    with pytest.raises(SystemExit, match="--category_split_share splits categories of a categorical code: it needs --categorical_codes"):
        train.parse_args(["--preset", "mnist_paper", "--category_split_share", "0.2", "--categorical_codes"])
    with pytest.raises(SystemExit, match="--category_split_steps must be positive steps, got \\[0, 100\\]"):
        train.parse_args(["--preset", "mnist", "--category_split_share", "0.2", "--category_split_steps", "0", "100"])
    for value in ("0.6", "1"):
        with pytest.raises(SystemExit, match=f"--category_split_bimodality must be 0 \\(off\\) or in \\(2/pi, 1\\) = \\(0.637, 1\\): one Gaussian mode already scores 2/pi, so a lower score would split every category; got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--category_split_bimodality", value])
    with pytest.raises(SystemExit, match="--category_split_bimodality splits categories of a categorical code: it needs --categorical_codes"):
        train.parse_args(["--preset", "mnist_paper", "--category_split_bimodality", "0.85", "--categorical_codes"])
    for value in ("-0.1", "1"):
        with pytest.raises(SystemExit, match=f"--category_recut_crossing must be 0 \\(off\\) or a rate in \\(0, 1\\) at which two categories' copies cross between them; got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--category_recut_crossing", value])
    for value in ("-0.1", "1"):
        with pytest.raises(SystemExit, match=f"--category_satellite_leaving must be 0 \\(off\\) or a rate in \\(0, 1\\) at which the smallest category's copies leave it; got {float(value)}"):
            train.parse_args(["--preset", "mnist", "--category_satellite_leaving", value])
    with pytest.raises(SystemExit, match="--category_satellite_leaving splits categories of a categorical code: it needs --categorical_codes"):
        train.parse_args(["--preset", "mnist_paper", "--category_satellite_leaving", "0.3", "--categorical_codes"])
    with pytest.raises(SystemExit, match="--category_recluster_step sets the prior to the new categories' shares: it needs --categorical_prior learned, got 'uniform'"):
        train.parse_args(["--preset", "mnist", "--category_recluster_step", "2000"])
    for value in ("-1", "3001"):
        with pytest.raises(SystemExit, match=rf"--category_recluster_step must be 0 \(off\) or a step in \[1, --max_train_steps\] \(at most 3000; .*\), got {value}"):
            train.parse_args(["--preset", "mnist", "--categorical_prior", "learned", "--max_train_steps", "3000", "--category_recluster_step", value])
    recluster = ["--preset", "mnist", "--categorical_prior", "learned", "--category_recluster_step", "2000"]
    with pytest.raises(SystemExit, match="--category_recluster_draws must be at least 1 .*, got 0"):
        train.parse_args([*recluster, "--category_recluster_draws", "0"])
    for value in ("-0.1", "1.5"):
        with pytest.raises(SystemExit, match=rf"--category_recluster_min_agreement must be in \[0, 1\] .*, got {float(value)}"):
            train.parse_args([*recluster, "--category_recluster_draws", "5", "--category_recluster_min_agreement", value])
    with pytest.raises(SystemExit, match="--category_recluster_min_agreement 0.9 measures how re-clusters agree: it needs --category_recluster_draws of 2 or more, got 1"):
        train.parse_args([*recluster, "--category_recluster_min_agreement", "0.9"])
    with pytest.raises(SystemExit, match=r"--category_recluster_elastic_strength must be at least 0 \(0: no elastic warp\), got -0.1"):
        train.parse_args([*recluster, "--category_recluster_elastic_strength", "-0.1"])
    # without the step there is nothing for the re-cluster's options to shape; their defaults pass
    with pytest.raises(SystemExit, match=r"--category_recluster_step is 0 \(off\), so there is no re-cluster for --category_recluster_linkage, --category_recluster_elastic_strength to shape"):
        train.parse_args([*recluster[:-2], "--category_recluster_linkage", "modularity", "--category_recluster_elastic_strength", "0"])
    assert train.parse_args([*recluster[:-2], "--category_recluster_linkage", "size", "--category_recluster_draws", "1"]).category_recluster_step == 0
    with pytest.raises(SystemExit, match="--category_recut_gain must be positive .*; got 0.0"):
        train.parse_args(["--preset", "mnist", "--category_recut_crossing", "0.1", "--category_recut_gain", "0"])
    with pytest.raises(SystemExit, match="--category_recut_crossing splits categories of a categorical code: it needs --categorical_codes"):
        train.parse_args(["--preset", "mnist_paper", "--category_recut_crossing", "0.1", "--categorical_codes"])


def test_the_hub_token_is_redacted_from_the_recorded_command_in_either_form():
    train = _train_module()
    assert train.redact_hub_token(["--seed", "1", "--hub_token", "hf_a", "--hub_token=hf_b", "--hub_model_id", "u/m"]) == [
        "--seed", "1", "--hub_token", "<token>", "--hub_token=<token>", "--hub_model_id", "u/m"
    ]  # fmt: skip


def test_resuming_with_settings_that_change_the_model_or_objective_is_refused(tmp_path):
    launch(tmp_path, "--max_train_steps", "2", "--checkpointing_steps", "2")
    state = json.loads((tmp_path / "checkpoint-2" / "training_state.json").read_text())
    assert state["settings"]["seed"] == 0 and state["elapsed_seconds"] > 0
    for changed, value in (("--seed", "1"), ("--consistency_weight", "2"), ("--hidden_dim", "32")):
        result = launch(tmp_path, "--max_train_steps", "4", "--resume_from_checkpoint", "latest", changed, value, check=False)
        assert result.returncode != 0, f"resuming with {changed} {value} was accepted"
        assert f"Cannot resume from {tmp_path / 'checkpoint-2'}" in result.stderr and changed[2:] in result.stderr
        assert "new --output_dir" in result.stderr
    # how long it runs and what it logs may change, and so may a learned prior's settings when the prior is uniform
    result = launch(tmp_path, "--max_train_steps", "4", "--resume_from_checkpoint", "latest", "--logging_steps", "1", "--learning_rate_prior", "0.1")
    assert "Resumed from" in result.stdout + result.stderr


def test_a_learned_prior_s_settings_are_part_of_its_run():
    train = _train_module()
    uniform = train.run_settings(train.parse_args(["--preset", "mnist"]), 1)
    learned = train.run_settings(train.parse_args(["--preset", "mnist", "--categorical_prior", "learned"]), 1)
    assert not train.LEARNED_PRIOR_SETTINGS & set(uniform) and train.LEARNED_PRIOR_SETTINGS <= set(learned)


def test_a_checkpoint_without_a_state_file_is_checked_against_the_run_record(tmp_path):
    train = _train_module()
    checkpoint = tmp_path / "checkpoint-10"
    checkpoint.mkdir()
    (tmp_path / "training_config.json").write_text(json.dumps({"seed": 3, "num_epochs": 5, "output_dir": "elsewhere"}))
    settings = train.run_settings(train.parse_args(["--preset", "mnist", "--seed", "0"]), num_processes=1)
    with pytest.raises(SystemExit, match=r"seed 3 \(now 0\)"):
        train.load_training_state(checkpoint, settings)
    settings = train.run_settings(train.parse_args(["--preset", "mnist", "--seed", "3", "--num_epochs", "9"]), num_processes=1)
    assert train.load_training_state(checkpoint, settings)["elapsed_seconds"] == 0.0
