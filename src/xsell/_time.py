"""Time handling: every time xsell stores or compares is timezone-aware UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from xsell.errors import InputError

__all__ = ["Clock", "as_utc", "system_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The machine's current time in UTC (the default clock)."""
    return datetime.now(UTC)


def as_utc(value: object, *, name: str = "at") -> pd.Timestamp:
    """A timezone-aware UTC timestamp from a datetime, Timestamp or ISO 8601 string.

    Naive times are refused: a decision time whose zone is unknown cannot be audited.

    Examples
    --------
    >>> as_utc("2026-03-01T10:00:00+01:00")
    Timestamp('2026-03-01 09:00:00+0000', tz='UTC')
    >>> as_utc("2026-03-01T10:00:00")
    Traceback (most recent call last):
    ...
    xsell.errors.InputError: `at` must be timezone-aware (UTC), got the naive time 2026-03-01 10:00:00
    >>> as_utc("9999-12-31T00:00:00Z")
    Traceback (most recent call last):
    ...
    xsell.errors.InputError: `at` must lie between 1677-09-21 and 2262-04-11, got 9999-12-31 00:00:00+00:00
    """
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"`{name}` must be a time (datetime or ISO 8601 string), got {value!r}: {exc}"
        ) from None
    if pd.isna(ts):
        raise InputError(f"`{name}` must be a time, got {value!r}")
    if ts.tzinfo is None:
        raise InputError(f"`{name}` must be timezone-aware (UTC), got the naive time {ts}")
    try:  # every time must fit the nanosecond times the guardrails and tables compute with
        ts.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise InputError(
            f"`{name}` must lie between {pd.Timestamp.min:%Y-%m-%d} and "
            f"{pd.Timestamp.max:%Y-%m-%d}, got {ts}"
        ) from None
    return ts.tz_convert("UTC")
