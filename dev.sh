#!/usr/bin/env bash
# gammacore set-up and entry points. Creates .venv at the repository root on first use.
#   ./dev.sh demo    the main job: a demo (see README)
#   ./dev.sh test    the test suite without the tests marked slow (what CI runs)
#   ./dev.sh env     only create/update the environment
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

need_apt=()
command -v iverilog >/dev/null || need_apt+=(iverilog)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
"$PY" -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "dev.sh: installing ${need_apt[*]} with apt-get" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "dev.sh: please install with apt: ${need_apt[*]}" >&2; exit 1
    fi
fi

stamp=.venv/.installed
if [ ! -x .venv/bin/python ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "dev.sh: creating .venv (pip install -e .[dev,fpga])" >&2
    "$PY" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev,fpga]'
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
export YOWASP_CACHE_DIR=${YOWASP_CACHE_DIR:-$HOME/.cache/yowasp}

case "${1:-}" in
    demo) shift; exec .venv/bin/gammacore demo coincidence --port sim --plots demo-plots --json demo.json "$@" ;;
    test) shift
        # the tests marked slow (the boards' full-size builds, long simulations, the formal checks'
        # refutations) are left out unless a marker expression is given: -m slow runs them, -m ""
        # runs everything
        marks=(-m "not slow")
        for a in "$@"; do case "$a" in -m|-m*) marks=() ;; esac; done
        exec .venv/bin/python -m pytest -n 2 --dist worksteal "${marks[@]}" "$@" ;;
    env) ;;
    *) echo "usage: ./dev.sh {demo|test|env} [args...]" >&2; exit 2 ;;
esac
