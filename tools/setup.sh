#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup.sh: install owbench's Debian/Ubuntu dependencies and build it into ./build.
#   bash tools/setup.sh               install packages (apt-get, as root or through sudo) and build
#   bash tools/setup.sh --no-install  build only
# Extra CMake arguments may be given after --, e.g. -- -DOWB_WITH_PAPI=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config git libhwloc-dev hwloc libpapi-dev papi-tools
          libcjson-dev libcurl4-openssl-dev gnuplot-nox python3 python3-jsonschema jq
          openmpi-bin libopenmpi-dev)

install=1
cmake_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --no-install) install=0 ;;
    --) shift; cmake_args=("$@"); break ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$install" = 1 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        echo "setup.sh: installing ${missing[*]}" >&2
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" >/dev/null
cmake --build build -j"$(nproc)"
echo "setup.sh: built build/owbench" >&2
