#!/usr/bin/env bash
# Build the peer-tool environment the benchmarks compare Podium against.
#
# MLflow goes into its own virtual environment (.bench-venv/, git-ignored) so that
# its ~850 MB of dependencies never touch Podium's .venv and never pin Podium's own
# versions. Idempotent: a stamp file records the install, so a second run is instant.
#
# Usage: bash bench/setup_peers.sh        (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.bench-venv"
spec='mlflow>=3,<4'
stamp="$venv/.podium-bench-installed"

# Arize Phoenix (bench/tracing.py's third ingest row) in its own environment inside .bench-venv/:
# ~855 MB, so only when more than 6 GB of disk are free; the bench prints "not installed" otherwise.
phoenix_venv="$venv/phoenix"
if [[ -x "$phoenix_venv/bin/phoenix" ]]; then
    echo "phoenix ready: $phoenix_venv"
elif (($(df --output=avail -k "$root" | tail -1) > 6 * 1024 * 1024)); then
    echo "installing arize-phoenix into $phoenix_venv (several minutes the first time)"
    "${PYTHON:-python3}" -m venv "$phoenix_venv"
    "$phoenix_venv/bin/python" -m pip install --quiet --upgrade pip
    "$phoenix_venv/bin/python" -m pip install --quiet arize-phoenix
else
    echo "phoenix not installed: 6 GB of free disk needed"
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$spec" && -x "$venv/bin/mlflow" ]]; then
    echo "peer environment ready: $venv ($("$venv/bin/python" -c 'import mlflow; print("mlflow", mlflow.__version__)'))"
    exit 0
fi

python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv with $python"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
echo "installing $spec into $venv (several minutes the first time)"
"$venv/bin/python" -m pip install --quiet "$spec"
printf '%s' "$spec" >"$stamp"
echo "peer environment ready: $venv ($("$venv/bin/python" -c 'import mlflow; print("mlflow", mlflow.__version__)'))"
