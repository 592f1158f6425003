#!/usr/bin/env bash
# Create one virtual environment per peer model server and install it, pinned, into
# benchmarks/peers/.venvs/<peer> (git-ignored; never the project's .venv or its dependencies).
#
#   benchmarks/peers/setup.sh              # every peer: kserve, mlserver
#   benchmarks/peers/setup.sh mlserver     # only the ones named
#
# The pins are in benchmarks/peers/<peer>.txt. A peer whose environment already holds them is skipped;
# delete .venvs/<peer> to start again. uv installs when it is on PATH or in .venv (much faster), pip
# otherwise. PYTHON=python3.11 picks the interpreter.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
UV=$(command -v uv || true)
[ -z "$UV" ] && [ -x "$here/../../.venv/bin/uv" ] && UV="$here/../../.venv/bin/uv"
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(kserve mlserver)

for peer in "${peers[@]}"; do
    pins="$here/$peer.txt"
    venv="$here/.venvs/$peer"
    stamp="$venv/.installed"
    if [ ! -f "$pins" ]; then
        echo "setup.sh: no pins for '$peer' ($pins); peers: kserve, mlserver" >&2
        exit 2
    fi
    if [ -f "$stamp" ] && cmp -s "$pins" "$stamp"; then
        echo "setup.sh: $peer already installed in $venv"
        continue
    fi
    echo "setup.sh: installing $peer into $venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    if [ -n "$UV" ]; then
        VIRTUAL_ENV="$venv" "$UV" pip install --python "$venv/bin/python" -r "$pins"
    else
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install -r "$pins"
    fi
    cp "$pins" "$stamp"
done
