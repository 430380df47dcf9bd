#!/usr/bin/env bash
# `make demo`: a day of omnichannel traffic through the local stack, and what it shows.
# Runs the real services: `rapport generate --gateway` sends each native payload to
# rapport-gateway as its provider would (signed with the endpoint's secret, docs/GATEWAY.md),
# the gateway verifies it and lands it on its raw topic, the normalizer turns them into Avro
# interactions (and dead letters), the writer stores them in ClickHouse, and the result is read
# from the analysts' views. Each run uses its own topics, database and secrets, so running it
# twice never mixes two days.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
run=demo-$(date +%Y%m%d-%H%M%S)
state=${RAPPORT_STACK_DIR:-$root/.rapport}/demo/$run
mkdir -p "$state"
# Acme's business hours and SLA policy, for the writer (docs/ANALYTICS.md, "Business time" and
# "SLAs"): the stored metrics get a business-time twin and every conversation its SLA outcome.
rules=$state/rules.toml
cat >"$rules" <<'TOML'
[business_hours]
[[business_hours.calendars.acme-office.versions]]
zone = "Europe/Berlin"
week = { mon = ["09:00-18:00"], tue = ["09:00-18:00"], wed = ["09:00-18:00"], thu = ["09:00-18:00"], fri = ["09:00-18:00"] }
[[business_hours.assign]]
tenant = "acme"
calendar = "acme-office"

[[sla.policies]]
name = "standard"
tenant = "acme"
first_response = "30m"
next_reply = "1h"
resolution = "8h"
TOML

export RAPPORT_KAFKA__BROKERS=127.0.0.1:${RAPPORT_STACK_KAFKA_PORT:-19092}
# Tansu 0.6 skips the rest of a batch when a consumer resumes mid-batch (docs/ARCHITECTURE.md).
export RAPPORT_KAFKA__RESUME_REWIND_RECORDS=10000
export RAPPORT_TENANT_ID=acme
export RAPPORT_TENANT__AGENT_DOMAINS='["acme.com"]'
export RAPPORT_TENANT__DEFAULT_PHONE_REGION=US
for t in email chat review support; do export "RAPPORT_TOPICS__RAW_${t^^}=$run.raw.$t"; done
export RAPPORT_TOPICS__INTERACTIONS=$run.interactions.v1 RAPPORT_TOPICS__DLQ=$run.dlq RAPPORT_TOPICS__IDENTITY=$run.identity.v1 RAPPORT_TOPICS__SLA=$run.sla.v1
ops=127.0.0.1:${RAPPORT_DEMO_HTTP_PORT:-19471}
writer_ops=127.0.0.1:${RAPPORT_DEMO_WRITER_HTTP_PORT:-19472}
linker_ops=127.0.0.1:${RAPPORT_DEMO_LINKER_HTTP_PORT:-19473}
gateway=127.0.0.1:${RAPPORT_DEMO_GATEWAY_PORT:-19474}
# Where `rapport generate` serves what the gateway fetches from Google (its keys, the reviews).
google_stand_in=127.0.0.1:${RAPPORT_DEMO_GOOGLE_STAND_IN_PORT:-19475}
sla_ops=127.0.0.1:${RAPPORT_DEMO_SLA_HTTP_PORT:-19476}
clickhouse=http://127.0.0.1:${RAPPORT_STACK_CH_HTTP_PORT:-18123}
database=${run//-/_}
# Only the writer and the CLI read [clickhouse]; the normalizer refuses keys it does not know.
# The writer has no tenant settings either: tenants travel inside every interaction.
store=(RAPPORT_CLICKHOUSE__URL=$clickhouse RAPPORT_CLICKHOUSE__DATABASE=$database)
no_tenant=(-u RAPPORT_TENANT_ID -u RAPPORT_TENANT__AGENT_DOMAINS -u RAPPORT_TENANT__DEFAULT_PHONE_REGION)

profile=${RAPPORT_DEMO_PROFILE:-release}
echo "== building rapport and the services ($profile)"
# CARGO may carry options (`cargo --config …`), hence unquoted.
${CARGO:-cargo} build --quiet --profile "${profile/debug/dev}" -p rapport-cli -p rapport-gateway -p rapport-normalizer -p rapport-writer -p rapport-linker -p rapport-api -p rapport-sla
bin=${CARGO_TARGET_DIR:-$root/target}/$profile

echo "== creating topics ($run.*)"
"$bin/rapport" topics create 2>&1 | sed 's/^/   /'

echo "== creating the history store (database $database)"
env "${store[@]}" "$bin/rapport" migrate 2>&1 | sed 's/^/   /'

echo "== starting rapport-gateway on $gateway (an endpoint per source for tenant acme; secrets in $state/secrets)"
# Every endpoint's secret is a file only this run knows. SNS and Google sign with keys only AWS
# and Google hold: one RSA key stands in for both, its certificate pinned for the SES endpoint
# and its JWKS served, with the reviews the gateway fetches, by `rapport generate`'s stand-in
# (outbound.test_only_reroute sends the gateway's Google requests there). Nothing else in the
# path is a stand-in.
secrets=$state/secrets
mkdir -p "$secrets" && chmod 700 "$secrets"
command -v openssl >/dev/null || { echo "demo: openssl is needed to make the stand-in SNS certificate" >&2; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sns.amazonaws.com/O=Rapport demo stand-in" \
  -keyout "$secrets/signing-key.pem" -out "$secrets/sns-certificate.pem" 2>/dev/null
secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secrets/$1"; echo "{ file = \"$secrets/$1\" }"; }
{
  echo "[rate_limit]"
  echo "requests_per_second = 100000.0"
  echo "burst = 100000"
  echo "[outbound.test_only_reroute]"
  echo "\"www.googleapis.com\" = \"http://$google_stand_in\""
  echo "\"mybusiness.googleapis.com\" = \"http://$google_stand_in\""
  for source in generic mailgun intercom chatwoot zendesk; do
    printf '[[endpoints]]\nid = "acme-%s"\ntenant = "acme"\nsource = "%s"\nsecrets = [%s]\n' "$source" "$source" "$(secret "$source")"
  done
  for source in sendgrid trustpilot yelp; do
    printf '[[endpoints]]\nid = "acme-%s"\ntenant = "acme"\nsource = "%s"\nurl_tokens = [%s]\n' "$source" "$source" "$(secret "$source")"
  done
  printf '[[endpoints]]\nid = "acme-freshdesk"\ntenant = "acme"\nsource = "freshdesk"\nbasic_auth = [{ username = "rapport", password = %s }]\n' "$(secret freshdesk)"
  printf '[[endpoints]]\nid = "acme-ses"\ntenant = "acme"\nsource = "ses"\nsns = { topic_arns = ["arn:aws:sns:us-east-1:123456789012:rapport-inbound"], fetch_certificates = false, certificates = [{ url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-rapport-demo.pem", file = "%s" }] }\n' "$secrets/sns-certificate.pem"
  printf '[[endpoints]]\nid = "acme-google"\ntenant = "acme"\nsource = "google"\ngoogle = { audiences = ["https://gateway.acme.example/hooks/google/acme-google"], service_accounts = ["gbp-push@rapport-demo.iam.gserviceaccount.com"], api_token = %s }\n' "$(secret google)"
} >"$state/gateway.toml"
env "${no_tenant[@]}" RAPPORT_HTTP__LISTEN=$gateway RAPPORT_LOG__FILTER=warn \
  "$bin/rapport-gateway" --config "$state/gateway.toml" 2>"$state/gateway.log" &
gateway_pid=$!
trap 'kill $gateway_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do curl -fsS "http://$gateway/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://$gateway/readyz" >/dev/null || { cat "$state/gateway.log" >&2; echo "demo: the gateway did not become ready" >&2; exit 1; }

echo "== sending a day of traffic for 300 customers (seed 42) through the gateway"
"$bin/rapport" generate --seed 42 --customers 300 --gateway "http://$gateway" --gateway-config "$state/gateway.toml" \
  --signing-key "$secrets/signing-key.pem" --google-stand-in "$google_stand_in" 2>&1 | sed 's/^/   /'
produced=$("$bin/rapport" generate --seed 42 --customers 300 --output - 2>/dev/null | wc -l)
gateway_requests() { curl -fsS "http://$gateway/metrics" | awk -v want="$1" '$1 ~ /^rapport_gateway_requests_total/ && $1 ~ want {s += $NF} END {print s + 0}'; }
printf '   gateway: %s requests verified and acknowledged by Kafka, of %s answered (log: %s)\n' \
  "$(gateway_requests 'outcome="accepted"')" "$(gateway_requests '')" "$state/gateway.log"
kill -TERM $gateway_pid && wait $gateway_pid || true
trap - EXIT

echo "== running the normalizer, the writer, the linker and rapport-sla until all $produced records are stored"
RAPPORT_GROUP_ID=$run-normalizer RAPPORT_HTTP__LISTEN=$ops RAPPORT_LOG__FILTER=warn \
  "$bin/rapport-normalizer" 2>"$state/normalizer.log" &
normalizer=$!
env "${no_tenant[@]}" "${store[@]}" RAPPORT_GROUP_ID=$run-writer RAPPORT_HTTP__LISTEN=$writer_ops RAPPORT_LOG__FILTER=warn \
  RAPPORT_CONFIG=$rules "$bin/rapport-writer" 2>"$state/writer.log" &
writer=$!
# The linker's admin API (rapport identity) answers only with this token.
admin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
env "${no_tenant[@]}" "${store[@]}" RAPPORT_GROUP_ID=$run-linker RAPPORT_HTTP__LISTEN=$linker_ops RAPPORT_LOG__FILTER=warn \
  RAPPORT_ADMIN__TOKEN=$admin_token \
  "$bin/rapport-linker" 2>"$state/linker.log" &
linker=$!
# SLA announcements for acme's policy, on the run's own topic.
env "${no_tenant[@]}" "${store[@]}" RAPPORT_GROUP_ID=$run-sla RAPPORT_HTTP__LISTEN=$sla_ops RAPPORT_LOG__FILTER=warn \
  RAPPORT_CONFIG=$rules "$bin/rapport-sla" 2>"$state/sla.log" &
sla=$!
trap 'kill $normalizer $writer $linker $sla 2>/dev/null || true' EXIT
metric() { curl -fsS "http://$1/metrics" 2>/dev/null | awk -v m="$2" '$1 ~ "^"m {s += $NF} END {print s + 0}'; }
alive() { kill -0 "$1" 2>/dev/null || { cat "$state/$2.log" >&2; echo "demo: the $2 stopped" >&2; exit 1; }; }
deadline=$((SECONDS + ${RAPPORT_DEMO_TIMEOUT:-240}))
# Done when every raw record was read and acknowledged downstream, and the writer has stored
# (or dead-lettered) every interaction the normalizer produced.
until [ "$(metric $ops rapport_normalizer_messages_in_total)" -ge "$produced" ] \
  && [ "$(metric $ops rapport_normalizer_in_flight_messages)" -eq 0 ] \
  && [ "$(metric $writer_ops rapport_writer_messages_in_total)" -ge "$(metric $ops rapport_normalizer_interactions_out_total)" ] \
  && [ "$(metric $writer_ops rapport_writer_pending_rows)" -eq 0 ] \
  && [ "$(metric $linker_ops rapport_linker_interactions_in_total)" -ge "$(metric $ops rapport_normalizer_interactions_out_total)" ] \
  && [ "$(metric $sla_ops rapport_sla_messages_in_total)" -ge "$(metric $ops rapport_normalizer_interactions_out_total)" ]; do
  alive $normalizer normalizer
  alive $writer writer
  alive $linker linker
  alive $sla sla
  [ $SECONDS -lt $deadline ] || {
    echo "demo: not finished within 240 s: normalizer read $(metric $ops rapport_normalizer_messages_in_total) of $produced" \
      "(in flight $(metric $ops rapport_normalizer_in_flight_messages)), writer read $(metric $writer_ops rapport_writer_messages_in_total)" \
      "of $(metric $ops rapport_normalizer_interactions_out_total) (pending $(metric $writer_ops rapport_writer_pending_rows)); logs: $state" >&2
    exit 1
  }
  sleep 0.5
done
printf '   normalizer: in %s, interactions out %s, dead letters %s\n' "$(metric $ops rapport_normalizer_messages_in_total)" \
  "$(metric $ops rapport_normalizer_interactions_out_total)" "$(metric $ops rapport_normalizer_dlq_total)"
printf '   writer: rows written %s, dead letters %s\n' "$(metric $writer_ops rapport_writer_rows_written_total)" \
  "$(metric $writer_ops rapport_writer_dlq_total)"
printf '   linker: interactions %s, links %s, customer changes %s\n' "$(metric $linker_ops rapport_linker_interactions_in_total)" \
  "$(metric $linker_ops rapport_linker_links_written_total)" "$(metric $linker_ops rapport_linker_customer_changes_total)"
printf '   rapport-sla: interactions %s, announcements %s\n' "$(metric $sla_ops rapport_sla_messages_in_total)" \
  "$(metric $sla_ops rapport_sla_events_total)"
# The linker writes its last batch on SIGTERM; keep it running for `rapport identity` below.
kill -TERM $normalizer $writer $sla && wait $normalizer $writer $sla || true
trap 'kill $linker 2>/dev/null || true' EXIT

ch() { curl -fsS "$clickhouse/?database=$database" --data-binary "$1"; }
echo
echo "== what the history store shows (docs/ANALYTICS.md explains every view)"
echo
ch "SELECT channel, count() AS interactions, uniqExact(conversation_id) AS conversations FROM timeline GROUP BY channel ORDER BY channel FORMAT PrettyCompactNoEscapes"
echo
# The customer seen on the most channels: one customer_id, every identifier the linker joined.
sleep 2
who=$(ch "SELECT customer_id FROM customer_timeline WHERE tenant_id = 'acme' GROUP BY customer_id ORDER BY uniqExact(channel) DESC, count() DESC, customer_id LIMIT 1")
ids=$(ch "SELECT arrayStringConcat(arraySort(groupArray(identity)), ', ') FROM customers FINAL WHERE tenant_id = 'acme' AND customer_id = '$who'")
echo "Customer $who ($ids), every channel, in order (rapport timeline $who --limit 25):"
env "${store[@]}" "$bin/rapport" timeline "$who" --limit 25 | sed 's/^/   /'
echo
first_identity=${ids%%,*}
echo "The same customer as the linker sees it (rapport identity show $first_identity):"
env "${store[@]}" RAPPORT_LINKER_URL=http://$linker_ops RAPPORT_LINKER_TOKEN=$admin_token "$bin/rapport" identity show "$first_identity" | sed 's/^/   /' | head -n 12
echo "   …"
echo
echo "Responsiveness per channel (rapport report; bots, auto-replies and notes never stop a clock):"
env "${store[@]}" "$bin/rapport" report --group-by channel | sed 's/^/   /'
echo
echo "The same in business time (acme's hours: weekdays 09:00-18:00 Europe/Berlin; rapport report --clock business):"
env "${store[@]}" "$bin/rapport" report --group-by channel --clock business | sed 's/^/   /'
echo
echo "SLA outcomes (first response 30 min, next reply 1 h, resolution 8 h, in business time; rapport sla):"
env "${store[@]}" "$bin/rapport" sla --group-by channel | sed 's/^/   /'
echo
echo "SLA announcements on $run.sla.v1 (rapport-sla; the day is in the past, so every timer has fired):"
"$bin/rapport" consume "$run.sla.v1" --idle-ms 2000 >"$state/sla-events.jsonl" 2>/dev/null
python3 -c 'import collections, json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
kinds = collections.Counter(e["kind"] for e in events)
print("   " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"))
breach = next((e for e in events if e["kind"] == "breached"), None)
if breach:
    keep = ("kind", "conversation_id", "target", "policy", "calendar", "due_at_ms", "event_id")
    print("   e.g. " + json.dumps({k: breach[k] for k in keep}))' "$state/sla-events.jsonl"
echo
echo "Still waiting for a human reply, longest first:"
ch "SELECT toString(waiting_since) AS waiting_since, channel, conversation_id, substring(replaceAll(ifNull(last_customer_text, ''), '\n', ' '), 1, 50) AS last_message
    FROM unanswered WHERE tenant_id = 'acme' ORDER BY waiting_since_ms, conversation_id LIMIT 5 FORMAT PrettyCompactNoEscapes"
echo
"$bin/rapport" consume "$run.dlq" --idle-ms 2000 >"$state/dead-letters.jsonl" 2>/dev/null
printf 'Dead letters (original bytes kept for replay): '
python3 -c 'import collections, json, sys
codes = collections.Counter(json.loads(l)["headers"].get("rapport-error-code", "?") for l in open(sys.argv[1]))
print(", ".join(f"{c} {n}" for c, n in codes.most_common()) or "none")' "$state/dead-letters.jsonl"
echo
kill -TERM $linker && wait $linker || true
trap - EXIT

# The API keeps running after the demo, so the printed curl works; it reads only [clickhouse]
# and [http], so it gets a clean environment.
api_addr=127.0.0.1:${RAPPORT_DEMO_API_PORT:-18080}
# An earlier demo's API would hold the port and answer for the earlier database.
for old in "${RAPPORT_STACK_DIR:-$root/.rapport}"/demo/*/api.pid; do
  [ -f "$old" ] && kill "$(cat "$old")" 2>/dev/null && rm -f "$old"
done
sleep 0.3
key=$(env "${store[@]}" "$bin/rapport" keys create --tenant acme --name demo 2>/dev/null)
setsid env -i PATH="$PATH" "${store[@]}" RAPPORT_HTTP__LISTEN=$api_addr RAPPORT_LOG__FILTER=warn \
  "$bin/rapport-api" >"$state/api.log" 2>&1 < /dev/null &
echo $! >"$state/api.pid"
for _ in $(seq 1 100); do curl -fsS "http://$api_addr/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
echo "The API (rapport-api, pid $(cat "$state/api.pid"); stop it with: kill \$(cat $state/api.pid)):"
echo "   curl -H 'Authorization: Bearer $key' 'http://$api_addr/v1/customers/$who/timeline?limit=3'"
curl -fsS -H "Authorization: Bearer $key" "http://$api_addr/v1/customers/$who/timeline?limit=3" \
  | python3 -c 'import json, sys; body = json.load(sys.stdin); print("   ->", len(body.get("items", body.get("interactions", []))), "items;", ", ".join(k for k in body))' \
  || echo "   (the API did not answer; log: $state/api.log)"
echo "   Every endpoint, with curl examples: docs/API.md"
echo
echo "Query ClickHouse yourself: curl '$clickhouse/?database=$database' --data-binary 'SELECT * FROM responsiveness LIMIT 5 FORMAT PrettyCompact'"
echo "Files: $state"
