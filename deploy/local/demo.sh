#!/usr/bin/env bash
# `make demo`: a day of omnichannel traffic through the local stack, and what it shows.
# Until the normalizer and writer services land, the demo produces the traffic to the raw topics
# and runs the same adapters in-process (`rapport normalize --records`) to show the result.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
state=${RAPPORT_STACK_DIR:-$root/.rapport}/demo
mkdir -p "$state"
export RAPPORT_KAFKA__BROKERS=${RAPPORT_KAFKA__BROKERS:-127.0.0.1:${RAPPORT_STACK_KAFKA_PORT:-19092}}
export RAPPORT_TENANT__AGENT_DOMAINS='["acme.com"]'
export RAPPORT_TENANT__DEFAULT_PHONE_REGION=US

echo "== building the rapport CLI"
cargo build --quiet --release -p rapport-cli
rapport=target/release/rapport

echo "== creating topics"
$rapport topics create

echo "== producing a day of traffic for 300 customers (seed 42) to the raw topics"
$rapport generate --seed 42 --customers 300 --tenant acme
$rapport generate --seed 42 --customers 300 --tenant acme --output "$state/day.jsonl" 2>/dev/null

echo "== normalizing it with the channel adapters"
status=0
$rapport normalize --records "$state/day.jsonl" >"$state/interactions.jsonl" 2>"$state/rejected.jsonl" || status=$?
[ "$status" -le 2 ] || exit "$status"

python3 deploy/local/demo_report.py "$state/interactions.jsonl" "$state/rejected.jsonl"
