#!/usr/bin/env python3
"""Dual-engine check of the ClickHouse schema, views and documented example queries.

Runs the same SQL on ClickHouse 18.16 (HTTP, http://127.0.0.1:${RAPPORT_STACK_CH_HTTP_PORT:-18123},
in a fresh, uniquely named database that is dropped afterwards) and on a current ClickHouse
embedded in-process by chdb, then:

  * applies every schemas/clickhouse/*.sql in file-name order, each twice (idempotence), with the
    migration runner's rule: drop full-line `--` comments, split on `;`, trim, skip empties;
  * loads tests/sql/scenario.sql, asserts the hand-computed answers that hold before the late
    events, loads tests/sql/scenario_late.sql (a late earlier message and replays) and
    tests/sql/scenario_sla.sql (stored business times and SLA outcomes, for the views over them)
    and tests/sql/scenario_threads.sql (two stored conversations mapped to one email thread);
  * runs one query over every view and every `<!-- example: name -->` query of docs/ANALYTICS.md,
    requires both engines to print identical TSV, compares it with tests/sql/expected/*.tsv, and
    asserts the hand-computed answers explicitly.

now() and today() in the example queries are replaced by a fixed reference time
(2024-03-08 12:00:00 UTC) so the results do not depend on the day the check runs; the
`unanswered` view's own waiting_ms is checked only for being positive.

Usage:  python3 tests/sql/check_sql.py [--bless]
        --bless rewrites tests/sql/expected/ from the 18.16 output, only where both engines agree.
Exit status 0 when everything matches, 1 on any mismatch (with a diff), 2 when an engine fails.
Needs only the standard library and chdb (pip package chdb-core).
"""

import difflib
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas" / "clickhouse"
HERE = ROOT / "tests" / "sql"
EXPECTED_DIR = HERE / "expected"
DOCS = ROOT / "docs" / "ANALYTICS.md"

REF_NOW = "toDateTime('2024-03-08 12:00:00', 'UTC')"
REF_TODAY = "toDate('2024-03-08')"

# One query per view. ORDER BY is total so the output is deterministic.
VIEW_QUERIES = {
    "view_timeline": "SELECT * FROM timeline ORDER BY tenant_id, conversation_id, occurred_at_ms, event_rank, event_id",
    "view_customer_conversations": "SELECT * FROM customer_conversations ORDER BY tenant_id, identity, conversation_id",
    "view_reply_latencies": "SELECT * FROM reply_latencies ORDER BY tenant_id, conversation_id, replied_at_ms, reply_event_id",
    "view_responsiveness": "SELECT * FROM responsiveness ORDER BY tenant_id, conversation_id",
    "view_responsiveness_daily": (
        "SELECT * FROM responsiveness_daily "
        "ORDER BY tenant_id, day, channel, team, agent_id, agent_name"
    ),
    "view_business_reply_latencies": (
        "SELECT * FROM business_reply_latencies WHERE tenant_id = 'sla-co' ORDER BY conversation_id, replied_at_ms"
    ),
    "view_business_resolutions": (
        "SELECT * FROM business_resolutions WHERE tenant_id = 'sla-co' ORDER BY conversation_id, resolved_at_ms"
    ),
    "view_business_responsiveness": (
        "SELECT * FROM business_responsiveness WHERE tenant_id = 'sla-co' ORDER BY conversation_id"
    ),
    # now_ms-free columns only: the rows are chosen so that the status does not depend on the day.
    "view_sla_outcomes": (
        "SELECT tenant_id, conversation_id, target, policy, calendar, channel, team, agent_id, target_ms, "
        "overdue, status, breached_at_ms, cycles, breached_cycles, started_at_ms, started_date, week, "
        "due_at_ms, at_risk_at_ms, at_risk, stopped_at_ms, remaining_ms "
        "FROM sla_outcomes ORDER BY tenant_id, conversation_id, target"
    ),
    "view_sla_weekly": "SELECT * FROM sla_weekly ORDER BY tenant_id, week, target, channel, team, agent_id",
    "view_unanswered": (
        "SELECT tenant_id, conversation_id, channel, team, waiting_since_ms, waiting_since, "
        "toUInt8(waiting_ms > 0) AS waiting_ms_positive, waiting_messages, identities, last_customer_text "
        "FROM unanswered ORDER BY tenant_id, waiting_since_ms, conversation_id"
    ),
}

BEFORE_LATE_QUERY = (
    "SELECT tenant_id, conversation_id, first_inbound_at_ms, first_response_at_ms, first_response_ms "
    "FROM responsiveness ORDER BY tenant_id, conversation_id"
)

E1 = "email:<thread-1@mail.example.com>"
E2 = "email:<thread-2@mail.example.com>"


def conv_row(columns, tenant, conv):
    return (
        f"SELECT {columns} FROM responsiveness "
        f"WHERE tenant_id = '{tenant}' AND conversation_id = '{conv}'"
    )


# Hand-computed answers (see the comments in scenario.sql). Each: description, SQL, expected
# rows as tab-separated lines.
ASSERT_BEFORE_LATE = [
    ("E2 FRT before the late message: 08:00 -> 09:00 (auto-reply and note ignored)",
     conv_row("first_inbound_at_ms, first_response_ms, first_responder_id", "acme", E2),
     ["1709625600000\t3600000\ta-anna"]),
]

ASSERT_AFTER_LATE = [
    ("email threads: the views group events by thread (the latest mapping), first response "
     "10:00 -> 10:30 across the two stored conversation ids",
     "SELECT conversation_id, customer_messages, human_replies, first_response_ms FROM responsiveness "
     "WHERE tenant_id = 'thread-co'",
     ["email:<t-root@x>\t2\t1\t1800000"]),
    ("email threads: the timeline keeps the stored id beside the thread's",
     "SELECT event_id, conversation_id, stored_conversation_id FROM timeline "
     "WHERE tenant_id = 'thread-co' ORDER BY event_id",
     ["t-m1\temail:<t-root@x>\temail:<t-root@x>",
      "t-m2\temail:<t-root@x>\temail:<t-root@x>",
      "t-r1\temail:<t-root@x>\temail:<t-follow@x>"]),
    ("business time beside the wall clock: 70 wall minutes are 10 business ones",
     "SELECT conversation_id, calendar, first_response_ms, first_response_business_ms, "
     "first_resolution_ms, first_resolution_business_ms FROM business_responsiveness "
     "WHERE tenant_id = 'sla-co'",
     ["s1\toffice\t4200000\t600000\t7200000\t3600000"]),
    ("sla outcomes: the latest version, overdue active targets breached at their due time, "
     "at risk only while not yet due, none left out",
     "SELECT conversation_id, target, status, breached_at_ms, breached_cycles, at_risk, week "
     "FROM sla_outcomes WHERE tenant_id = 'sla-co' ORDER BY conversation_id, target",
     ["s1\tfirst_response\tmet\t\\N\t0\t0\t2024-03-04",
      "s1\tresolution\tmet\t\\N\t0\t0\t2024-03-04",
      "s2\tfirst_response\tactive\t\\N\t0\t1\t2024-03-04",
      "s3\tfirst_response\tbreached\t1709550000000\t1\t0\t2024-03-04",
      "s3\tnext_reply\tpaused\t\\N\t0\t0\t2024-03-04",
      "s4\tfirst_response\tbreached\t1710148500000\t1\t0\t2024-03-11"]),
    ("sla per week and target: % met of the decided ones, NULL while none is",
     "SELECT week, target, sum(conversations), sum(met), sum(breached), sum(active), sum(paused), "
     "if(sum(met) + sum(breached) > 0, floor(1000 * sum(met) / (sum(met) + sum(breached)) + 0.5) / 10, NULL) "
     "FROM sla_weekly WHERE tenant_id = 'sla-co' GROUP BY week, target ORDER BY week, target",
     ["2024-03-04\tfirst_response\t3\t1\t1\t1\t0\t50",
      "2024-03-04\tnext_reply\t1\t0\t0\t0\t1\t\\N",
      "2024-03-04\tresolution\t1\t1\t0\t0\t0\t100",
      "2024-03-11\tfirst_response\t1\t0\t1\t0\t0\t0"]),
    ("E2 FRT after the late earlier message: 07:00 -> 09:00",
     conv_row("first_inbound_at_ms, first_response_ms, first_responder_id, customer_messages", "acme", E2),
     ["1709622000000\t7200000\ta-anna\t2"]),
    ("E2 reply latency runs from the late 07:00 message",
     f"SELECT inbound_at_ms, reply_latency_ms, is_first_response FROM reply_latencies "
     f"WHERE tenant_id = 'acme' AND conversation_id = '{E2}'",
     ["1709622000000\t7200000\t1"]),
    ("E1: two customer messages then a reply: latency from the first, then 5 minutes",
     f"SELECT agent_id, inbound_at_ms, replied_at_ms, reply_latency_ms, is_first_response FROM reply_latencies "
     f"WHERE tenant_id = 'acme' AND conversation_id = '{E1}' ORDER BY replied_at_ms",
     ["a-anna\t1709542800000\t1709544600000\t1800000\t1",
      "a-ben\t1709546400000\t1709546700000\t300000\t0"]),
    ("E1 counted once despite duplicates of e1-m1 and e1-r1",
     conv_row("first_response_ms, customer_messages, human_replies, replies_with_latency, "
              "avg_reply_latency_ms, max_reply_latency_ms, status, is_resolved", "acme", E1),
     ["1800000\t3\t2\t2\t1050000\t1800000\tsolved\t1"]),
    ("chat: the bot reply does not stop the clock",
     conv_row("first_response_ms, first_responder_id, human_replies, status", "acme", "intercom:1001"),
     ["240000\ta-carl\t1\tclosed"]),
    ("support ticket: solved, reopened, solved again; latest non-null team",
     conv_row("team, reopen_count, first_resolution_ms, full_resolution_ms, first_response_ms, "
              "replies_with_latency, is_resolved, status", "acme", "zendesk:501"),
     ["tier2\t1\t7200000\t90000000\t3600000\t2\t1\tsolved"]),
    ("agent-created ticket: FRT from the first customer message",
     conv_row("created_at_ms, first_inbound_at_ms, first_response_ms, first_responder_id, human_replies, "
              "replies_with_latency", "acme", "zendesk:502"),
     ["1709715600000\t1709726400000\t1800000\ta-ellen\t2\t1"]),
    ("review answered after 15 h, the other not at all",
     "SELECT conversation_id, first_response_ms, waiting_since_ms FROM responsiveness "
     "WHERE tenant_id = 'acme' AND channel = 'review' ORDER BY conversation_id",
     ["google:rev-1\t54000000\t\\N", "google:rev-2\t\\N\t1709755200000"]),
    ("unanswered: the chat waiting since 16:00 and the unanswered review, not the closed spam",
     "SELECT conversation_id, waiting_since_ms, waiting_messages, toUInt8(waiting_ms > 0) FROM unanswered "
     "WHERE tenant_id = 'acme' ORDER BY waiting_since_ms",
     ["google:rev-2\t1709755200000\t1\t1", "intercom:1002\t1709827200000\t2\t1"]),
    ("closed without reply: waiting_since set but not waiting",
     conv_row("waiting_since_ms, is_waiting, is_resolved", "acme", "intercom:1003"),
     ["1709805600000\t0\t1"]),
    ("tenants do not mix: globex zendesk:501, message and reply in the same millisecond",
     conv_row("customer_messages, human_replies, first_response_ms, team, waiting_since_ms", "globex", "zendesk:501"),
     ["2\t1\t600000\tdesk\t\\N"]),
    ("tenants do not mix: acme zendesk:501 message counts",
     conv_row("customer_messages, human_replies", "acme", "zendesk:501"),
     ["2\t2"]),
    ("identity index is per tenant",
     "SELECT tenant_id, conversation_id FROM customer_conversations "
     "WHERE identity = 'email:li@example.com' ORDER BY tenant_id",
     ["acme\tzendesk:501", "globex\tzendesk:501"]),
    ("replays: one row per event, the latest written copy wins",
     "SELECT event_id, text FROM timeline WHERE tenant_id = 'acme' AND event_id IN ('c1-r1', 'e1-m1', 'e1-r1') "
     "ORDER BY event_id",
     ["c1-r1\tIt arrives tomorrow morning", "e1-m1\tMy invoice is wrong", "e1-r1\tSorry, fixed it"]),
    ("distinct events per tenant",
     "SELECT tenant_id, count() FROM timeline GROUP BY tenant_id ORDER BY tenant_id",
     ["acme\t34", "globex\t3", "thread-co\t3"]),
    ("daily: E1 replies by agent on 2024-03-04",
     "SELECT agent_id, replies, avg_reply_ms, p50_reply_ms, first_responses, avg_first_response_ms "
     "FROM responsiveness_daily WHERE tenant_id = 'acme' AND day = toDate('2024-03-04') AND channel = 'email' "
     "ORDER BY agent_id",
     ["a-anna\t1\t1800000\t1800000\t1\t1800000", "a-ben\t1\t300000\t300000\t0\t\\N"]),
]


def split_statements(text):
    """The migration runner's rule: drop full-line `--` comments, split on `;`, trim, skip empty."""
    kept = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(kept).split(";") if s.strip()]


class EngineError(Exception):
    pass


def adds_an_existing_column(stmt, error):
    """The migration runner's rule for ADD COLUMN, which has no IF NOT EXISTS on 18.16: a column
    that already exists (code 44 on 18.16, 15 DUPLICATE_COLUMN on current ClickHouse) is what the
    statement asked for."""
    upper = stmt.lstrip().upper()
    text = str(error)
    return (upper.startswith("ALTER TABLE") and " ADD COLUMN " in upper
            and ("Code: 44" in text or "Code: 15" in text) and "already exists" in text)


class Http1816:
    name = "clickhouse-18.16"

    def __init__(self):
        port = os.environ.get("RAPPORT_STACK_CH_HTTP_PORT", "18123")
        self.url = f"http://127.0.0.1:{port}/"
        self.db = f"rapport_check_{os.getpid()}_{int(time.time() * 1000)}"
        self._post(f"CREATE DATABASE {self.db}", database="default")

    def _post(self, sql, database=None):
        params = {"wait_end_of_query": "1", "database": database or self.db}
        req = urllib.request.Request(self.url + "?" + urllib.parse.urlencode(params), data=sql.encode())
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.read().decode()
        except urllib.error.HTTPError as e:
            raise EngineError(f"{self.name}: {e.read().decode().strip()}\nSQL: {sql}") from None
        except urllib.error.URLError as e:
            raise EngineError(f"{self.name}: cannot reach {self.url}: {e.reason}") from None

    def execute(self, sql):
        self._post(sql)

    def query(self, sql):
        return self._post(sql + "\nFORMAT TSVWithNames")

    def close(self):
        self._post(f"DROP DATABASE IF EXISTS {self.db}", database="default")


class Chdb:
    def __init__(self, path=None, db=None):
        """A chdb session; with `path`, its data persists there, and `db` reopens a database
        an earlier session created."""
        import chdb
        import chdb.session as cs

        self.name = f"chdb-{getattr(chdb, '__version__', '?')}"
        self.session = cs.Session(path) if path else cs.Session()
        self.db = db or f"rapport_check_{os.getpid()}_{int(time.time() * 1000)}"
        if not db:
            self.execute(f"CREATE DATABASE {self.db}")
        self.execute(f"USE {self.db}")

    def execute(self, sql):
        self.query(sql, fmt="TSV")

    def query(self, sql, fmt="TSVWithNames"):
        try:
            res = self.session.query(sql, fmt)
        except Exception as e:  # chdb raises its own error types
            raise EngineError(f"{self.name}: {e}\nSQL: {sql}") from None
        return res.bytes().decode() if hasattr(res, "bytes") else str(res)

    def close(self):
        try:
            self.execute(f"DROP DATABASE IF EXISTS {self.db}")
        finally:
            for method in ("close", "cleanup"):
                if hasattr(self.session, method):
                    getattr(self.session, method)()
                    break


def extract_examples():
    text = DOCS.read_text()
    found = re.findall(r"<!-- example: ([a-z0-9_]+) -->\s*\n```sql\n(.*?)\n```", text, re.S)
    names = [n for n, _ in found]
    if len(set(names)) != len(names):
        raise SystemExit(f"duplicate example names in {DOCS}: {names}")
    examples = {}
    for name, sql in found:
        sql = sql.strip().rstrip(";").strip()
        sql = sql.replace("now()", REF_NOW).replace("today()", REF_TODAY)
        examples["example_" + name] = sql
    return examples


def run_engine(engine, examples):
    """Everything on one engine; returns ({result name: TSV}, [assertion failures], seconds)."""
    started = time.monotonic()
    results, failures = {}, []

    def check(stage, asserts):
        for desc, sql, rows in asserts:
            got = engine.query(sql).splitlines()[1:]
            if got != rows:
                failures.append(f"[{engine.name}] {stage}: {desc}\n  expected: {rows}\n  got:      {got}")

    # Each file twice in a row (a concurrent runner applying the same version). A later file may
    # replace an earlier one's views; the runner then never applies the earlier one again.
    for path in sorted(SCHEMA_DIR.glob("*.sql")):
        for _ in range(2):
            for stmt in split_statements(path.read_text()):
                try:
                    engine.execute(stmt)
                except EngineError as e:
                    if not adds_an_existing_column(stmt, e):
                        raise
    for stmt in split_statements((HERE / "scenario.sql").read_text()):
        engine.execute(stmt)
    check("before late events", ASSERT_BEFORE_LATE)
    results["before_late"] = engine.query(BEFORE_LATE_QUERY)
    for name in ("scenario_late.sql", "scenario_sla.sql", "scenario_threads.sql"):
        for stmt in split_statements((HERE / name).read_text()):
            engine.execute(stmt)
    for name, sql in VIEW_QUERIES.items():
        results[name] = engine.query(sql)
    for name, sql in examples.items():
        results[name] = engine.query(sql)
    check("after late events", ASSERT_AFTER_LATE)
    return results, failures, time.monotonic() - started


def diff(a, b, name_a, name_b):
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), name_a, name_b))


def main():
    bless = "--bless" in sys.argv[1:]
    examples = extract_examples()
    if len(examples) < 10:
        print(f"expected at least 10 examples in {DOCS}, found {len(examples)}")
        return 1
    runs = {}
    for factory in (Http1816, Chdb):
        engine = None
        try:
            engine = factory()
            runs[engine.name] = run_engine(engine, examples)
        except EngineError as e:
            print(f"ENGINE ERROR {e}")
            return 2
        finally:
            if engine is not None:
                engine.close()
    (old_name, (old, old_fail, old_s)), (new_name, (new, new_fail, new_s)) = runs.items()
    problems = old_fail + new_fail
    for name in old:
        if old[name] != new[name]:
            problems.append(f"engines differ on {name}:\n" + diff(old[name], new[name], old_name, new_name))
            continue
        path = EXPECTED_DIR / f"{name}.tsv"
        if bless:
            EXPECTED_DIR.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text() != old[name]:
                path.write_text(old[name])
                print(f"blessed {path.relative_to(ROOT)}")
        elif not path.exists():
            problems.append(f"missing {path.relative_to(ROOT)} (run with --bless)")
        elif path.read_text() != old[name]:
            problems.append(f"{name} differs from {path.relative_to(ROOT)}:\n"
                            + diff(path.read_text(), old[name], str(path.relative_to(ROOT)), "actual"))
    stale = {p.stem for p in EXPECTED_DIR.glob("*.tsv")} - set(old)
    for name in sorted(stale):
        problems.append(f"stale expected file tests/sql/expected/{name}.tsv (no such query)")
    for p in problems:
        print("FAIL " + p)
    total = len(old) * 2 + (len(ASSERT_BEFORE_LATE) + len(ASSERT_AFTER_LATE)) * 2
    print(f"{old_name}: {old_s:.1f}s, {new_name}: {new_s:.1f}s, {len(old)} results per engine, "
          f"{total} checks, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
