"""Latency of the Space through gradio_client: /generate's p50 and p95 per grid size, and a model
switch in the gallery once its model is cached.

Starts `spaces_app/app.py` on 127.0.0.1 with its gallery (MODEL_IDS: the model timed, default the
bundled MNIST one, else a freshly initialised MNIST-size pipeline, plus the other bundled models),
then calls /generate repeatedly and /load_model alternately between two gallery models. Targets
(issue 13): the 10x10 grid's p95 within 1.5x the 1x1 grid's (Gradio's own floor), measured in the
same run; a switch under 2 s once cached.

    python benchmarks/bench_space.py [--model DIR] [--requests 30]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
BUNDLED = REPOSITORY / "pretrained" / "infogan-mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(BUNDLED) if BUNDLED.exists() else None)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    from gradio_client import Client

    if args.model is None:
        from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline

        args.model = tempfile.mkdtemp(prefix="bench-space-")
        InfoGANPipeline(InfoGANGenerator().eval(), InfoGANDiscriminator().eval()).save_pretrained(args.model)
        print(f"no bundled model: timing a freshly initialised MNIST-size pipeline in {args.model}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    others = [str(path.parent) for path in sorted((REPOSITORY / "pretrained").glob("*/model_index.json")) if str(path.parent) != args.model]
    gallery = [args.model, *others]
    env = dict(os.environ, MODEL_IDS=",".join(gallery), GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    app = subprocess.Popen([sys.executable, str(REPOSITORY / "spaces_app" / "app.py")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        client = Client(url, verbose=False)
        controls = ["0", *["random"] * 9, 0.5, -0.5, *[0.0] * 8]
        p95s = {}
        for side in (1, 4, 10):
            timings = []
            for request in range(args.requests + 3):
                started = time.perf_counter()
                client.predict(args.model, request, side, side, *controls, api_name="/generate")
                if request >= 3:  # the first calls warm up
                    timings.append(1000 * (time.perf_counter() - started))
            timings.sort()
            p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
            p95s[side] = p95
            print(f"{side}x{side} grid through gradio_client: p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms ({args.requests} requests)")
        print(f"10x10 p95 / 1x1 p95: {p95s[10] / p95s[1]:.2f} (target at most 1.5)")
        if len(gallery) > 1:  # a switch loads the model, its summary, controls, first grid and traversal
            switches = []
            for request in range(2 * 5 + 2):
                started = time.perf_counter()
                client.predict(gallery[request % 2], api_name="/load_model")
                if request >= 2:  # the first two load and cache each model
                    switches.append(time.perf_counter() - started)
            print(f"model switch once cached ({Path(gallery[0]).name} <-> {Path(gallery[1]).name}): "
                  f"median {statistics.median(switches):.2f} s, max {max(switches):.2f} s ({len(switches)} switches; target under 2 s)")
    finally:
        app.terminate()
        app.wait(timeout=30)


if __name__ == "__main__":
    main()
