#!/usr/bin/env bash
# Installs what is missing, builds a release binary and starts Ferry on port 4566 with its data in
# ./data. Extra arguments go to ferry (see `ferry --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release ferry
exec build/release/src/server/ferry --port "${FERRY_PORT:-4566}" --data-dir "${FERRY_DATA_DIR:-./data}" "$@"
