"""Prints the demo's result: one customer's cross-channel timeline and a responsiveness summary.

Interim: reads the interactions `rapport consume` read back from the normalized topic, and the
dead letters. The history store (ClickHouse views) replaces this once the writer lands; the
metric definitions here follow DOMAIN.md (first public human reply; bots, auto-replies and notes
excluded).
"""
import collections
import json
import statistics
import sys
from datetime import datetime


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def is_human_reply(i):
    return (i["direction"] == "outbound" and i["actor"]["role"] == "agent" and not i["auto_reply"]
            and i["kind"] in ("message", "review_reply"))


def main(interactions_path, rejected_path):
    interactions = [json.loads(line) for line in open(interactions_path)]
    rejected = [json.loads(line) for line in open(rejected_path)]
    for r in rejected:
        r["code"] = r.get("code") or r.get("headers", {}).get("rapport-error-code", "?")
    by_channel = collections.Counter(i["channel"] for i in interactions)
    print(f"\n{len(interactions)} interactions ({', '.join(f'{c} {n}' for c, n in sorted(by_channel.items()))}); "
          f"{len(rejected)} payloads rejected ({', '.join(f'{c} {n}' for c, n in collections.Counter(r['code'] for r in rejected).most_common())})")

    by_email = collections.defaultdict(list)
    for i in interactions:
        for ident in i["identities"]:
            if ident["type"] == "email":
                by_email[ident["value"]].append(i)
    email, timeline = max(by_email.items(), key=lambda kv: (len({i["channel"] for i in kv[1]}), len(kv[1]), kv[0]))
    print(f"\nTimeline of {email} ({len({i['channel'] for i in timeline})} channels):")
    for i in sorted(timeline, key=lambda i: (i["occurred_at"], i["event_id"])):
        who = i["actor"]["name"] or i["actor"]["role"]
        text = (i["text"] or i["status"] or "").replace("\n", " ")
        extra = f" ★{i['rating']}" if i["rating"] else ""
        print(f"  {i['occurred_at'][:16].replace('T', ' ')}  {i['channel']:<7} {i['kind']:<13} {i['direction']:<8} {who:<16.16} {text[:60]}{extra}")

    conversations = collections.defaultdict(list)
    for i in interactions:
        conversations[(i["tenant_id"], i["conversation_id"])].append(i)
    frt = collections.defaultdict(list)
    unanswered = collections.Counter()
    for items in conversations.values():
        items.sort(key=lambda i: i["occurred_at"])
        first_in = next((i for i in items if i["direction"] == "inbound"), None)
        if not first_in:
            continue
        reply = next((i for i in items if is_human_reply(i) and i["occurred_at"] >= first_in["occurred_at"]), None)
        if reply:
            frt[first_in["channel"]].append((ts(reply["occurred_at"]) - ts(first_in["occurred_at"])).total_seconds() / 60)
        else:
            unanswered[first_in["channel"]] += 1
    print("\nFirst response time per channel (minutes; bots, auto-replies and notes excluded):")
    print(f"  {'channel':<8} {'answered':>8} {'avg':>7} {'p50':>7} {'p90':>7} {'unanswered':>10}")
    for channel in sorted(set(frt) | set(unanswered)):
        values = sorted(frt[channel])
        if values:
            p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
            print(f"  {channel:<8} {len(values):>8} {statistics.mean(values):>7.1f} {statistics.median(values):>7.1f} {p90:>7.1f} {unanswered[channel]:>10}")
        else:
            print(f"  {channel:<8} {0:>8} {'-':>7} {'-':>7} {'-':>7} {unanswered[channel]:>10}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
