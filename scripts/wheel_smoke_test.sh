#!/usr/bin/env bash
# CI: the wheel works without the source tree. Builds the wheel against the
# torch of $PYTHON (scripts/build_wheel.sh) and installs it into a fresh
# virtual environment outside the source tree, first as `pip install
# cosam_ext` (torch and numpy only: the layer and the ops must work there),
# then with the re-ID extra (`cosam_ext[reid]`: the cosam-reid command).
# Each stage runs scripts/wheel_smoke_test.py from an empty directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bash "$ROOT/scripts/build_wheel.sh" "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/cosam_ext-*.whl)
"${PYTHON:-python3}" -m venv "$WORK/venv"
mkdir "$WORK/run"
cd "$WORK/run"
# The wheel pins the torch minor version it was built for; pip fetches it.
"$WORK/venv/bin/python" -m pip install -q "$WHEEL"
"$WORK/venv/bin/python" "$ROOT/scripts/wheel_smoke_test.py" layer "$(basename "$WHEEL")"
"$WORK/venv/bin/python" -m pip install -q "$WHEEL[reid]"
"$WORK/venv/bin/python" "$ROOT/scripts/wheel_smoke_test.py" reid "$(basename "$WHEEL")"
