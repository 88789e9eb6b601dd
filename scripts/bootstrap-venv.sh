#!/usr/bin/env bash
# Create the virtual environment with the project and its extras, or refresh it when
# pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
python=${PYTHON:-python3}
stamp="$venv/.installed"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[controller,agent,dev]"
    touch "$stamp"
fi
# The agent's locked dependencies as wheels, and what building the project's wheel needs: tests build
# and install agent releases from them without the network (loalang_stack/release_build.py).
lock=receiver_agent/deploy/requirements.lock
wheels="$venv/wheelhouse"
if [ ! -f "$wheels/.complete" ] || [ "$lock" -nt "$wheels/.complete" ]; then
    rm -rf "$wheels"
    "$venv/bin/python" -m pip wheel -q --wheel-dir "$wheels" -r "$lock" "setuptools>=68" wheel
    touch "$wheels/.complete"
fi
# The project's own bytecode, written now: where PYTHONDONTWRITEBYTECODE is set (it is on the
# machines this project is tested on) Python never writes it, and every process would compile each
# module it imports from source again (0.7 s of a controller's start, for every controller, agent and
# command the tests run). Reading bytecode is allowed either way; a module changed since is compiled
# in memory.
"$venv/bin/python" -m compileall -q -j 0 controller receiver_agent loalang_protocol loalang_stack tests benchmarks \
    > /dev/null
