#!/usr/bin/env python3
"""The read path on a current ClickHouse (the chDB half of tests/benches/read.rs).

Usage: python3 tests/sql/bench_read_chdb.py DIR

DIR holds the stored tables exported from ClickHouse 18.16 (`<table>.native`) and the read
model's queries as 18.16 logged them (`queries.json`: {label: [SQL, ...]}). The tables are
created from schemas/clickhouse/ (the materialized view dropped: its table is loaded as stored),
loaded, and every query is run once to warm up and once timed. Prints p50 and p99 per query
shape (which read of the read model it is) in milliseconds.
"""

import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_sql import SCHEMA_DIR, Chdb, split_statements  # noqa: E402

SHAPES = [
    ("conversation: state", r"FROM conversations FINAL PREWHERE tenant_id = '[^']*' AND conversation_id = '[^']*'\) WHERE events"),
    ("customer: summary", r"AS interactions, min\(occurred_at_ms\)"),
    ("timeline: spans", r"toUInt8\(1\) AS stored"),
    ("timeline: page", r"own_primary"),
    ("conversation: events", r"FROM interaction_log FINAL PREWHERE tenant_id = '[^']*' AND conversation_id IN \("),
    ("customer: resolve", r"FROM customers FINAL PREWHERE tenant_id = '[^']*' AND identity = '"),
    ("customer: identifiers", r"FROM customer_identities FINAL"),
    ("report: replies", r"FROM replies FINAL"),
    ("report: resolutions", r"FROM resolutions FINAL"),
    ("unanswered: candidates", r"FROM waiting FINAL"),
    ("unanswered: states", r"FROM conversations FINAL PREWHERE tenant_id = '[^']*' AND conversation_id IN"),
    ("unanswered: customers", r"FROM customers FINAL PREWHERE tenant_id = '[^']*' AND identity IN"),
]


def shape(sql):
    for name, pattern in SHAPES:
        if re.search(pattern, sql):
            return name
    return "other"


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(1, min(len(values), int(-(-p * len(values) // 1))))
    return values[k - 1]


def main():
    data = Path(sys.argv[1])
    engine = Chdb(path=tempfile.mkdtemp(prefix="rapport-bench-chdb-"))
    try:
        for path in sorted(SCHEMA_DIR.glob("*.sql")):
            for statement in split_statements(path.read_text()):
                engine.execute(statement)
        engine.execute("DROP TABLE IF EXISTS interaction_identities_mv")
        started = time.monotonic()
        for native in sorted(data.glob("*.native")):
            table = native.stem
            engine.execute(f"INSERT INTO {table} SELECT * FROM file('{native}', Native)")
        rows = engine.query("SELECT count() FROM interaction_log", fmt="TSV").strip()
        print(f"\nchDB {engine.name}: loaded {rows} interactions and the stored tables in "
              f"{time.monotonic() - started:.0f} s")
        queries = json.loads((data / "queries.json").read_text())
        timings = {}
        for sql in (q for qs in queries.values() for q in qs):
            engine.query(sql, fmt="TSV")
            begin = time.perf_counter()
            engine.query(sql, fmt="TSV")
            timings.setdefault(shape(sql), []).append((time.perf_counter() - begin) * 1000)
        print(f"\n| read model query ({engine.name}, in-process) | runs | p50 ms | p99 ms |")
        print("| --- | --- | --- | --- |")
        for name, _ in SHAPES + [("other", "")]:
            values = timings.get(name)
            if values:
                print(f"| {name} | {len(values)} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} |")
        return 0
    finally:
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
