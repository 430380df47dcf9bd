#!/usr/bin/env python3
"""Parses SQL statements on a current ClickHouse (chdb): `formatQuery` runs the server's own
parser, so a statement that current ClickHouse would not accept is reported.

Usage:  python3 tests/sql/parse_check.py < statements.json   (a JSON list of strings)
Exit status 0 when every statement parses, 1 when one does not (each named), 2 when chdb is
missing (`make chdb` installs the pinned chdb-core).
"""

import json
import sys


def literal(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def main():
    try:
        import chdb
    except ImportError:
        print("chdb is not installed; run `make chdb` (pip package chdb-core)", file=sys.stderr)
        return 2
    statements = json.load(sys.stdin)
    failures = 0
    for statement in statements:
        try:
            chdb.query(f"SELECT formatQuery({literal(statement)})", "TSV")
        except Exception as e:  # chdb raises its own error types
            failures += 1
            print(f"does not parse on chdb {chdb.__version__}: {statement[:200]!r}\n  {e}", file=sys.stderr)
    print(f"{len(statements) - failures} of {len(statements)} statements parse on chdb {chdb.__version__}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
