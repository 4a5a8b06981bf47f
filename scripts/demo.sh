#!/usr/bin/env bash
# The main job on shipped defaults: find the least-energy LeNet-5 accelerator within a 1 % accuracy
# budget on Fashion-MNIST, then re-run the winner in RTL on the full test set.
set -euo pipefail
cd "$(dirname "$0")/.."
axtpu() { node bin/axtpu.js "$@"; }
echo "== axtpu doctor"
axtpu doctor
echo
# The winner line prints its saving under all three objectives (accelerator, array, multiplier).
echo "== axtpu explore --demo (LeNet-5, Fashion-MNIST, 1 % budget, layer granularity, default cells, accelerator objective)"
axtpu explore --demo --out synth-reports/demo
