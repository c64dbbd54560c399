"""Milliseconds to generate 100 MNIST-size images with InfoGANPipeline (the paper's MNIST network).

    python benchmarks/bench_pipeline.py [--device cuda] [--repeats 20]
"""

import argparse
import statistics
import time

import torch

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    pipe = InfoGANPipeline(InfoGANGenerator().eval(), InfoGANDiscriminator().eval()).to(args.device)
    generator = torch.Generator().manual_seed(0)
    for output_type in ("pt", "np", "pil"):
        for _ in range(3):  # warm-up
            pipe(batch_size=args.batch_size, generator=generator, output_type=output_type)
        timings = []
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            pipe(batch_size=args.batch_size, generator=generator, output_type=output_type)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            timings.append(1000 * (time.perf_counter() - started))
        print(
            f"{args.device} {args.batch_size} images output_type={output_type}: "
            f"median {statistics.median(timings):.1f} ms, min {min(timings):.1f} ms over {args.repeats} runs"
        )


if __name__ == "__main__":
    main()
