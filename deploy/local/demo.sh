#!/usr/bin/env bash
# `make demo`: a day of omnichannel traffic through the local stack, and what it shows.
# Runs the real services: `rapport generate` produces native payloads to the raw topics, the
# normalizer turns them into Avro interactions (and dead letters), and the result is read back
# from Kafka. Each run uses its own topics, so running it twice never mixes two days.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
run=demo-$(date +%Y%m%d-%H%M%S)
state=${RAPPORT_STACK_DIR:-$root/.rapport}/demo/$run
mkdir -p "$state"

export RAPPORT_KAFKA__BROKERS=127.0.0.1:${RAPPORT_STACK_KAFKA_PORT:-19092}
# Tansu 0.6 skips the rest of a batch when a consumer resumes mid-batch (docs/ARCHITECTURE.md).
export RAPPORT_KAFKA__PRODUCER_BATCH_MESSAGES=1
export RAPPORT_TENANT_ID=acme
export RAPPORT_TENANT__AGENT_DOMAINS='["acme.com"]'
export RAPPORT_TENANT__DEFAULT_PHONE_REGION=US
for t in email chat review support; do export "RAPPORT_TOPICS__RAW_${t^^}=$run.raw.$t"; done
export RAPPORT_TOPICS__INTERACTIONS=$run.interactions.v1 RAPPORT_TOPICS__DLQ=$run.dlq RAPPORT_TOPICS__IDENTITY=$run.identity.v1
ops=127.0.0.1:${RAPPORT_DEMO_HTTP_PORT:-19471}

echo "== building rapport and rapport-normalizer (release)"
cargo build --quiet --release -p rapport-cli -p rapport-normalizer
bin=$root/target/release

echo "== creating topics ($run.*)"
"$bin/rapport" topics create 2>&1 | sed 's/^/   /'

echo "== producing a day of traffic for 300 customers (seed 42)"
"$bin/rapport" generate --seed 42 --customers 300 2>&1 | sed 's/^/   /'
produced=$("$bin/rapport" generate --seed 42 --customers 300 --output - 2>/dev/null | wc -l)

echo "== running the normalizer until all $produced records are processed"
RAPPORT_GROUP_ID=$run-normalizer RAPPORT_HTTP__LISTEN=$ops RAPPORT_LOG__FILTER=warn \
  "$bin/rapport-normalizer" 2>"$state/normalizer.log" &
normalizer=$!
trap 'kill $normalizer 2>/dev/null || true' EXIT
metric() { curl -fsS "http://$ops/metrics" 2>/dev/null | awk -v m="$1" '$1 ~ "^"m {s += $NF} END {print s + 0}'; }
deadline=$((SECONDS + 180))
# Done when every record was read and nothing is still waiting for the broker's acknowledgement.
until [ "$(metric rapport_normalizer_messages_in_total)" -ge "$produced" ] && [ "$(metric rapport_normalizer_in_flight_messages)" -eq 0 ]; do
  if ! kill -0 $normalizer 2>/dev/null; then cat "$state/normalizer.log" >&2; echo "demo: the normalizer stopped" >&2; exit 1; fi
  [ $SECONDS -lt $deadline ] || { echo "demo: the normalizer did not finish within 180 s (log: $state/normalizer.log)" >&2; exit 1; }
  sleep 0.5
done
printf '   in %s, interactions out %s, dead letters %s\n' "$(metric rapport_normalizer_messages_in_total)" \
  "$(metric rapport_normalizer_interactions_out_total)" "$(metric rapport_normalizer_dlq_total)"
kill -TERM $normalizer && wait $normalizer || true
trap - EXIT

echo "== reading the normalized topic and the dead letters back"
"$bin/rapport" consume "$run.interactions.v1" --idle-ms 2000 >"$state/interactions.jsonl" 2>/dev/null
"$bin/rapport" consume "$run.dlq" --idle-ms 2000 >"$state/dead-letters.jsonl" 2>/dev/null

python3 deploy/local/demo_report.py "$state/interactions.jsonl" "$state/dead-letters.jsonl"
echo
echo "Files: $state"
