#!/usr/bin/env bash
# The demo: builds everything, starts the network-namespace cluster with a
# ferry agent on each node, and shows the seed's LoadBalancer scenario.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/scripts/setup.sh"
export FERRY_BIN="$REPO/build/src/ferry"
exec python3 "$REPO/e2e/demo.py" "$@"
