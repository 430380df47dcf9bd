#!/usr/bin/env python3
"""Business time computed by an independent implementation, the PyPI package businesstimedelta.

Used by ../oracle.rs (the differential test). It reads one JSON document on stdin:

    {"calendars": [{
        "zone": "Europe/Berlin",
        "work":  [[weekday, "HH:MM", "HH:MM"], ...],   # weekday 0 = Monday; end "24:00" = midnight
        "lunch": [[weekday, "HH:MM", "HH:MM"], ...],   # time off inside a work period
        "holidays": ["YYYY-MM-DD", ...],               # whole local days off
        "between": [[from_ms, to_ms], ...],            # -> business milliseconds
        "add": [[from_ms, amount_ms], ...],            # -> due instant, epoch ms
        "holiday_next": [at_ms, ...]                   # optional: the HolidayRule's own
    }, ...]}                                           #   next(at) -> [start_ms, end_ms]

and writes {"results": [{"between": [...], "add": [...]}, ...]} to stdout.

Each work entry becomes one WorkDayRule, each lunch one LunchTimeRule, the holidays one
HolidayRule, all combined with Rules, as the package's README shows. A work entry never crosses
midnight: the caller splits an overnight period into two entries. An end of "24:00" is given to
the package as time(0), its documented way of ending at the next midnight ("Overnight shifts can
be represented by setting end time less than start time").

Exit status 3 (with a message naming `make oracles`) when the package or the pinned versions are
missing.
"""

import datetime
import json
import sys

PINNED = {"businesstimedelta": "1.0.1", "pytz": "2026.6"}


def fail(message):
    print(f"{message}; run `make oracles` to install the pinned oracle packages", file=sys.stderr)
    sys.exit(3)


try:
    from importlib.metadata import PackageNotFoundError, version

    for package, wanted in PINNED.items():
        try:
            found = version(package)
        except PackageNotFoundError:
            fail(f"python package {package}=={wanted} is not installed")
        if found != wanted:
            fail(f"python package {package} is {found}, the oracle is pinned to {wanted}")
    import businesstimedelta
    import pytz
except ImportError as error:
    fail(f"cannot import the oracle: {error}")

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=pytz.utc)
MS = datetime.timedelta(milliseconds=1)


def clock(text):
    if text == "24:00":
        return datetime.time(0)
    hours, minutes = text.split(":")
    return datetime.time(int(hours), int(minutes))


def instant(ms):
    return EPOCH + datetime.timedelta(milliseconds=ms)


def millis(dt):
    return (dt - EPOCH) // MS


def rule_for(calendar):
    tz = pytz.timezone(calendar["zone"])
    rules = [
        businesstimedelta.WorkDayRule(
            start_time=clock(start), end_time=clock(end), working_days=[day], tz=tz
        )
        for day, start, end in calendar["work"]
    ]
    rules += [
        businesstimedelta.LunchTimeRule(
            start_time=clock(start), end_time=clock(end), working_days=[day], tz=tz
        )
        for day, start, end in calendar["lunch"]
    ]
    holidays = None
    if calendar["holidays"]:
        dates = {datetime.date.fromisoformat(d) for d in calendar["holidays"]}
        holidays = businesstimedelta.HolidayRule(dates, tz=tz)
        rules.append(holidays)
    return businesstimedelta.Rules(rules), holidays


def main():
    request = json.load(sys.stdin)
    results = []
    for calendar in request["calendars"]:
        rule, holidays = rule_for(calendar)
        between = []
        for from_ms, to_ms in calendar["between"]:
            if to_ms <= from_ms:
                between.append(0)
                continue
            delta = rule.difference(instant(from_ms), instant(to_ms))
            between.append(delta.timedelta // MS)
        add = []
        for from_ms, amount_ms in calendar["add"]:
            delta = businesstimedelta.BusinessTimeDelta(
                rule, timedelta=datetime.timedelta(milliseconds=amount_ms)
            )
            add.append(millis(instant(from_ms) + delta))
        spans = []
        for at_ms in calendar.get("holiday_next", []):
            start, end = holidays.next(instant(at_ms))
            spans.append([millis(start), millis(end)])
        results.append({"between": between, "add": add, "holiday_next": spans})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
