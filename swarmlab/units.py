"""Docker's units, once: Go durations, go-units sizes and Docker's CPUs.

The compose loader and the command line read the same values (`1m30s`, `512M`, `0.5`)
into the Engine API's units (nanoseconds, bytes, nano-CPUs), so both call this module
and a value means the same thing in a compose file as after a flag. Each parser follows
its Go original, arithmetic and error wording included: durations as
`time.ParseDuration` (fractions through float64, as Go does), sizes as go-units'
`RAMInBytes` (float64, truncated), CPUs as the docker CLI's `ParseCPUs` (exact rationals,
as `big.Rat`). Errors are ValueError with Go's words; callers add where the value was.
"""
from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

__all__ = ["format_duration", "human_duration", "parse_cpus", "parse_duration", "ram_in_bytes"]

# -- durations: Go's time.ParseDuration and Duration.String -------------------------

_UNIT_NS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60 * 1_000_000_000, "h": 3600 * 1_000_000_000,
}
_MAX = 1 << 63
_DIGITS = re.compile(r"[0-9]*")
_UNIT = re.compile(r"[^0-9.]*")


def parse_duration(text: str) -> int:
    """`1m30s` -> 90_000_000_000, `-1.5h`, `300ms`, `0`: Go's grammar
    `[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`, its overflow checks and its error words."""
    invalid = f'time: invalid duration "{text}"'
    s, neg = text, text[:1] == "-"
    if s[:1] in ("-", "+"):
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(invalid)
    total, pos = 0, 0
    while pos < len(s):
        value, pos = _duration_term(s, pos, text)
        total += value
        if total > _MAX:
            raise ValueError(invalid)
    if not neg and total > _MAX - 1:
        raise ValueError(invalid)
    return -total if neg else total


def _duration_term(s: str, pos: int, text: str) -> tuple[int, int]:
    """One `<number><unit>` of a duration from `pos`: its nanoseconds and where it ends."""
    whole = _DIGITS.match(s, pos).group()
    pos += len(whole)
    frac = ""
    if s[pos:pos + 1] == ".":
        frac = _DIGITS.match(s, pos + 1).group()
        pos += 1 + len(frac)
    if not whole and not frac:
        raise _invalid_duration(text)
    unit_text = _UNIT.match(s, pos).group()
    if not unit_text:
        raise ValueError(f'time: missing unit in duration "{text}"')
    unit = _UNIT_NS.get(unit_text)
    if unit is None:
        raise ValueError(f'time: unknown unit "{unit_text}" in duration "{text}"')
    v = int(whole or "0")
    if v > _MAX // unit:
        raise _invalid_duration(text)
    v *= unit
    if frac:
        f, scale = _leading_fraction(frac)
        v += int(float(f) * (float(unit) / scale))
        if v > _MAX:
            raise _invalid_duration(text)
    return v, pos + len(unit_text)


def _invalid_duration(text: str) -> ValueError:
    # made when raised, not per term: a long duration is not copied once per term
    return ValueError(f'time: invalid duration "{text}"')


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's leadingFraction: the digits that fit in an int64 and their scale; the
    rest are too small to matter and are dropped."""
    f, scale = 0, 1.0
    for c in digits:
        if f > (_MAX - 1) // 10 or f * 10 + int(c) > _MAX:
            break
        f, scale = f * 10 + int(c), scale * 10
    return f, scale


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

# -- sizes: go-units RAMInBytes ------------------------------------------------------

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?$")
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """`512m`, `1G`, `50M`, `1.5GiB`, `1024` -> bytes (binary multiples; the number is
    a float64 in Go, multiplied and truncated, and so it is here)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    size = float(m.group(1)) * _BINARY[m.group(2).lower()]
    if size in (float("inf"), float("-inf")):  # Go's ParseFloat refuses it (out of range)
        raise ValueError(f"invalid size: '{text}'")
    return int(size)

# -- CPUs: the docker CLI's ParseCPUs -------------------------------------------------

# big.Rat's SetString forms in decimal: a fraction `a/b`, or a number with an optional
# exponent. Its base-prefixed forms (`0x1p-2`, and `010/1`, octal in a fraction) are
# refused rather than read with another value.
_RATIONAL = re.compile(r"[+-]?(?:(?:0|[1-9][0-9]*)/(?:0|[1-9][0-9]*)"
                       r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_MAX_EXPONENT = 1_000_000  # big.Rat refuses larger exponents rather than build the number


def parse_cpus(text: str) -> int:
    """`0.5` -> 500000000 nano-CPUs, `1.000000001` -> 1000000001, `1/4` -> 250000000.
    Exact, as Docker's big.Rat: a value finer than one nano-CPU is refused."""
    cpus = _rational(text)
    if cpus is None:
        raise ValueError(f"failed to parse {text} as a rational number")
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)


def _rational(text: str) -> Fraction | None:
    if not _RATIONAL.fullmatch(text):
        return None
    exponent = text.lower().partition("e")[2]
    if exponent and abs(int(exponent)) > _MAX_EXPONENT:
        return None
    try:
        return Fraction(text)
    except ZeroDivisionError:  # `1/0`: big.Rat reports it as unparsable
        return None
