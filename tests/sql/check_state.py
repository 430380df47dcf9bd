#!/usr/bin/env python3
"""The stored read model against a current ClickHouse's views (the chDB half of
tests/read_model.rs).

Usage: python3 tests/sql/check_state.py DIR

DIR holds what the Rust test wrote after the writer stored its rows on ClickHouse 18.16:
  interaction_log.jsonl, customers.jsonl  the log and the customers (JSONEachRow),
  compare.json                         {"queries": {name: SQL over the views},
                                        "expected": {name: the stored rows' TSV from 18.16}}.

It applies every schemas/clickhouse/*.sql to a fresh chDB database (the migration runner's rule),
loads the log and the customers, runs each query and requires its TSV to equal the stored rows.
Then it closes the persisted chDB database, opens it again (the current engine's restart: it
reads its stored view definitions back) and requires the same answers.
Exit 0 when all match, 1 with a diff when one does not, 2 when chDB is missing or fails.
"""

import difflib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_sql import SCHEMA_DIR, Chdb, EngineError, split_statements  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    data = Path(sys.argv[1])
    store = tempfile.mkdtemp(prefix="rapport-chdb-")
    try:
        engine = Chdb(path=store)
    except ImportError:
        print("chdb is not installed: run `make chdb` (pip package chdb-core)")
        return 2
    try:
        for path in sorted(SCHEMA_DIR.glob("*.sql")):
            for statement in split_statements(path.read_text()):
                engine.execute(statement)
        for table in ("interaction_log", "customers"):
            rows = (data / f"{table}.jsonl").read_text()
            if rows.strip():
                engine.execute(f"INSERT INTO {table} FORMAT JSONEachRow\n{rows}")
        engine.execute(
            "INSERT INTO customer_identities "
            "SELECT tenant_id, customer_id, identity, toUInt8(1), changed_at_ms FROM customers FINAL"
        )
        compare = json.loads((data / "compare.json").read_text())
        failed = compare_all(engine, compare, "")
        # Reopen the persisted database in a new session: the views are read back from disk.
        db = engine.db
        engine.session.close()
        engine = Chdb(path=store, db=db)
        failed |= compare_all(engine, compare, " after reopening")
        return 1 if failed else 0
    except EngineError as e:
        print(e)
        return 2
    finally:
        engine.close()


def compare_all(engine, compare, when):
    failed = False
    for name, sql in sorted(compare["queries"].items()):
        got = engine.query(sql, fmt="TSV")
        want = compare["expected"][name]
        if got != want:
            failed = True
            print(f"{name}{when}: {engine.name}'s view differs from the rows 18.16 stored")
            print("".join(list(difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), "stored (18.16)", engine.name
            ))[:80]))
        else:
            print(f"{name}{when}: {len(got.splitlines())} rows equal on {engine.name}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
