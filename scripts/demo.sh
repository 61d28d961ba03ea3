#!/usr/bin/env bash
# The demo: builds everything, starts the network-namespace cluster with
# nothing on the nodes, installs ferry by its manifest and plays the seed's
# scenarios 1-7 with narration (e2e/demo.py; --bgp, --keep).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/scripts/setup.sh"
export FERRY_BIN="$REPO/build/src/ferry"
exec python3 "$REPO/e2e/demo.py" "$@"
