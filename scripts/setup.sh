#!/usr/bin/env bash
# Idempotent set-up: npm dependencies, then the Debian packages axtpu drives, only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(verilator yosys opensta iverilog redis-server qflow-tech-osu018 qflow-tech-osu035 dataset-fashion-mnist g++ make python3-torch)

# npm ci only when node_modules does not match the lock file (npm ci always wipes node_modules).
stamp=node_modules/.axtpu-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages; install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: ok"
