#!/usr/bin/env bash
# Build a signed agent release for the boards' platform: the project's wheel at the version given and
# the locked dependencies' wheels for that platform (pip downloads them from the package index), signed
# with a release key (`radio-controller keys certify-release`). Add the file with
# `radio-controller releases add FILE` or the console; docs/operations.md, "Agent releases and rollouts".
#
#   scripts/build-release.sh --version 1.4.0 --key-dir /secure/release-key --out loalang-1.4.0.release \
#       [--board arm64|amd64] [--notes "what changed"]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    echo "run scripts/bootstrap-venv.sh first (the build uses its wheelhouse)" >&2
    exit 2
fi
exec .venv/bin/python -m loalang_stack.release_build "$@"
