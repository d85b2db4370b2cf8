"""Go's duration syntax, as Docker's flags take it (`10s`, `1m30s`, `500ms`), and back.

The Engine API carries durations as integer nanoseconds; the CLI parses Go's
`time.ParseDuration` grammar and prints Go's `Duration.String()`, so a value
round-trips the way it does with `docker service create --update-delay 1m30s`.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNIT_NS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60 * 1_000_000_000, "h": 3600 * 1_000_000_000,
}
_TERM = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """`1m30s` -> 90_000_000_000. Raises ValueError with Go's wording on bad input."""
    s = text.strip()
    sign = 1
    if s[:1] in "+-" and s:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, pos = Decimal(0), 0
    while pos < len(s):
        m = _TERM.match(s, pos)
        if not m:
            raise ValueError(_go_error(s[pos:], text))
        try:
            total += Decimal(m.group(1)) * _UNIT_NS[m.group(2)]
        except InvalidOperation as exc:
            raise ValueError(f'time: invalid duration "{text}"') from exc
        pos = m.end()
    return sign * int(total)


def _go_error(rest: str, text: str) -> str:
    """Go's wording for what is wrong at `rest`."""
    m = re.match(r"(\d+\.?\d*|\.\d+)([^\d.]*)", rest)
    if not m:
        return f'time: invalid duration "{text}"'
    if not m.group(2):
        return f'time: missing unit in duration "{text}"'
    return f'time: unknown unit "{m.group(2)}" in duration "{text}"'


def parse_positive_duration(text: str) -> int:
    """Docker's DurationOpt: a Go duration that must not be negative."""
    ns = parse_duration(text)
    if ns < 0:
        raise ValueError("duration cannot be negative")
    return ns


def format_duration(ns: int) -> str:
    """Go's `time.Duration.String()`: 1m30s, 500ms, 1.5s, 0s, 1h0m0s."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(Decimal(ns) / size) + unit
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    seconds = _trim(Decimal(rest) / 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, the words of `docker service ps` ("2 minutes")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
