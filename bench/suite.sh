#!/usr/bin/env bash
# Wall time of the whole test suite (what CI runs once the tools are built) and its slowest tests.
#   bash bench/suite.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/time -f "test suite: %e s wall, %U s user, %S s system, %M KB max RSS" \
  python3 -m pytest -q -p no:cacheprovider --durations=15 "$@"
