#!/usr/bin/env bash
# Fails if any tracked C++ file differs from what clang-format (the repository's .clang-format)
# would write. Fix with: git ls-files '*.cc' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror
