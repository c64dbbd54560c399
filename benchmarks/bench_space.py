"""Latency of the Space's generate endpoint through gradio_client: p50 and p95 per grid size.

Starts `spaces_app/app.py` on 127.0.0.1 with MODEL_ID (default: the bundled model, else a
freshly initialised MNIST-size pipeline), then calls /generate repeatedly.

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
    env = dict(os.environ, MODEL_ID=args.model, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
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
        for side in (1, 4, 10):
            timings = []
            for request in range(args.requests + 3):
                started = time.perf_counter()
                client.predict(args.model, request, side, side, *controls, api_name="/generate")
                if request >= 3:  # the first calls warm up
                    timings.append(1000 * (time.perf_counter() - started))
            timings.sort()
            p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
            print(f"{side}x{side} grid through gradio_client: p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms ({args.requests} requests)")
    finally:
        app.terminate()
        app.wait(timeout=30)


if __name__ == "__main__":
    main()
