#!/bin/sh
# Installs the TF.js peer (tests/peer/tfjs: @tensorflow/tfjs 4.22.0 pinned by package-lock.json)
# with `npm ci` when its node_modules is missing. Exits non-zero when npm cannot install it;
# the TF.js peer tests then skip with that reason.
set -eu
directory="$(cd "$(dirname "$0")/.." && pwd)/tests/peer/tfjs"
if [ -f "$directory/node_modules/@tensorflow/tfjs/package.json" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-tfjs: npm is not installed" >&2
  exit 1
fi
cd "$directory"
echo "setup-tfjs: installing @tensorflow/tfjs with npm ci in $directory"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
