#!/usr/bin/env bash
# Installs the Debian packages autodropout needs, once; a no-op when they are
# all there. Run as root (make setup does), or install them by hand.
set -euo pipefail

# libturbojpeg0-dev: libjpeg-turbo, the JPEG decoder of the streaming image loader (data/jpeg_turbo.go; build tag noturbojpeg goes without).
# chromium: the dashboard's browser test (dashboard/browser_test.go) drives it headless.
# bible-kjv, bible-kjv-text: the King James Bible, the "kjv" language-model corpus (data/kjv.go).
pkgs=(g++ libturbojpeg0-dev dataset-fashion-mnist fortunes bible-kjv bible-kjv-text chromium)
# With LIBTORCH set, the user brings their own libtorch.
[ -z "${LIBTORCH:-}" ] && pkgs+=(libtorch-dev)
# Debian's libtorch calls the libblas.so.3 alternative, by default the
# reference BLAS: a float32 Transformer-XL step ran about 10x slower on it.
# OpenBLAS built for OpenMP shares libtorch's OpenMP thread count and runs
# single-threaded inside libtorch's parallel regions (docs/performance.md).
# Either OpenBLAS already installed is kept.
if ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
  pkgs+=(libopenblas0-openmp)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "autodropout needs these Debian packages: ${missing[*]}" >&2
  echo "install them as root:  sudo apt-get install ${missing[*]}" >&2
  echo "(or run 'sudo make setup'); then run make again." >&2
  exit 1
fi
echo "setup: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
