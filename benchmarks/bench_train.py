"""Training throughput of MNIST presets: images per second and ms per step split into D and G+Q.

Runs the real training script (`accelerate launch training/train.py`) for a fixed number of
steps for each preset and batch size on real MNIST, and reads the step timings it logs; with
`--presets mnist mnist_paper` it shows what the consistency term costs beside the plain recipe.

    python benchmarks/bench_train.py [--presets mnist mnist_paper] [--batch_sizes 64 128] [--steps 60]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["mnist"])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup_steps", type=int, default=20, help="steps left out of the figures")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU exists")
    args = parser.parse_args()

    accelerate = Path(sys.executable).parent / "accelerate"
    for preset, batch_size in [(preset, batch_size) for preset in args.presets for batch_size in args.batch_sizes]:
        with tempfile.TemporaryDirectory() as output_dir:
            command = [str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                       "--dynamo_backend", "no", "--num_cpu_threads_per_process", str(os.cpu_count()),
                       *(["--cpu"] if args.cpu else []), str(REPOSITORY / "training" / "train.py"),
                       "--preset", preset, "--output_dir", output_dir, "--train_batch_size", str(batch_size),
                       "--max_train_steps", str(args.warmup_steps + args.steps), "--logging_steps", "10",
                       "--checkpointing_steps", "100000", "--sample_steps", "0", "--eval_num_samples", "100",
                       "--report_to", "none"]  # fmt: skip
            subprocess.run(command, check=True, cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            records = [json.loads(line) for line in (Path(output_dir) / "metrics.jsonl").read_text().splitlines()]
            timed = [r for r in records if "ms_per_step/generator" in r and r["step"] > args.warmup_steps]
            discriminator = sum(r["ms_per_step/discriminator"] for r in timed) / len(timed)
            generator = sum(r["ms_per_step/generator"] for r in timed) / len(timed)
            device = json.loads((Path(output_dir) / "training_config.json").read_text())["device"]
            print(
                f"{preset}, batch {batch_size}: {1000 * batch_size / (discriminator + generator):.0f} images/s, "
                f"{discriminator + generator:.1f} ms/step (D {discriminator:.1f} ms, G+Q {generator:.1f} ms) on {device}"
            )


if __name__ == "__main__":
    main()
