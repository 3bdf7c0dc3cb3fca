#!/usr/bin/env bash
# CI: the wheel works without the source tree. Builds the wheel against the
# torch of $PYTHON (scripts/build_wheel.sh), installs it with its
# dependencies into a fresh virtual environment outside the source tree, and
# runs scripts/wheel_smoke_test.py there from an empty directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bash "$ROOT/scripts/build_wheel.sh" "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/cosam_ext-*.whl)
"${PYTHON:-python3}" -m venv "$WORK/venv"
# The wheel pins the torch minor version it was built for; pip fetches it.
"$WORK/venv/bin/python" -m pip install -q "$WHEEL"
mkdir "$WORK/run"
cd "$WORK/run"
"$WORK/venv/bin/python" "$ROOT/scripts/wheel_smoke_test.py" "$(basename "$WHEEL")"
