#!/usr/bin/env bash
# The main job on shipped defaults. Grows as the flow lands (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
axtpu() { node bin/axtpu.js "$@"; }
echo "== axtpu doctor"
axtpu doctor
