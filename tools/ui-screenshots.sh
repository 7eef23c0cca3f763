#!/usr/bin/env bash
# The documented manual check of `make ui` (README, "Browsing runs"): headless Chromium
# (Debian's chromium package) screenshots of the saved runs view (task, variant, seed
# columns) and of one task's accuracy-vs-length chart, from this checkout's mlflow.db.
#   tools/ui-screenshots.sh [TASK] [OUT_DIR]     (defaults: copy, docs/)
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:-copy}; out=${2:-docs}; port=5055
command -v chromium >/dev/null || { echo "error: chromium is not installed (apt-get install chromium)" >&2; exit 2; }
log=$(mktemp); profile=$(mktemp -d)
.venv/bin/python -m attnbench.tracking.browse --port "$port" > "$log" 2>&1 &
ui=$!
trap 'kill $ui 2>/dev/null; wait $ui 2>/dev/null; rm -rf "$log" "$profile"' EXIT
for _ in $(seq 1 300); do grep -q "^Runs tables" "$log" && break; sleep 1; done
grep -q "^Runs tables" "$log" || { cat "$log" >&2; exit 1; }
runs=$(grep -m1 "viewStateShareKey=attnbench-runs" "$log" | sed 's/^ *[^:]*: //')
chart=$(grep -m1 "viewStateShareKey=attnbench-$task\$" "$log" | sed 's/^ *[^:]*: //')
shot() {  # the flags keep Chromium off the network it cannot reach here
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile/$1" --window-size=1600,1000 --virtual-time-budget=60000 \
    --screenshot="$out/$1.png" "$2" 2>/dev/null
}
shot mlflow-runs-table "$runs"
shot mlflow-accuracy-by-length "$chart"
echo "wrote $out/mlflow-runs-table.png ($runs) and $out/mlflow-accuracy-by-length.png ($chart)"
