#!/bin/sh
# Installs the Debian 12 packages savepoint builds, tests and benchmarks with.
# Idempotent: asks apt only for what is missing, so a prepared machine pays nothing.
set -eu

build="build-essential cmake pkg-config zlib1g-dev
  libhdf5-dev hdf5-tools libzip-dev libjson-c-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsnappy-dev
  libmicrohttpd-dev libopenblas-dev libsqlite3-dev sqlite3 libpq-dev libssl-dev
  libcriterion-dev clang libclang-rt-14-dev llvm-14 valgrind curl"
data="dataset-fashion-mnist"
peers="python3-h5py python3-numpy python3-torch postgresql wrk nginx-light libfarmhash0"

missing=""
for package in $build $data $peers; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  case "$status" in
    "install ok installed") ;;
    *) missing="$missing $package" ;;
  esac
done

if [ -n "$missing" ]; then
  echo "install-deps: installing$missing"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  if ! command -v npm >/dev/null 2>&1; then
    $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
fi
# The TF.js peer for the format tests (npm ci, pinned by tests/peer/tfjs/package-lock.json).
"$(dirname "$0")/setup-tfjs.sh" || echo "install-deps: the TF.js peer could not be installed; its tests will be skipped"
