"""The one time parser and the one ISO format."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mmts.core.time import iso, require_ns, to_ns

T = 1723161600000000000  # 2024-08-09T00:00:00Z


@pytest.mark.parametrize(
    "value",
    [
        "2024-08-09",
        "2024-08-09T00:00:00Z",
        "2024-08-09T02:00:00+02:00",
        T,
        np.int64(T),
        pd.Timestamp("2024-08-09", tz="UTC"),
        dt.datetime(2024, 8, 9, tzinfo=dt.UTC),
        dt.datetime(2024, 8, 9),  # noqa: DTZ001 - naive is read as UTC
        dt.date(2024, 8, 9),
        np.datetime64("2024-08-09T00:00:00"),
    ],
)
def test_times_are_read_as_utc_ns(value: object) -> None:
    assert to_ns(value) == T


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("NaT", "not-a-time"),  # was the minimum int64: a backtest from 1677
        (pd.NaT, "not-a-time"),
        (True, "boolean"),  # was 1 ns
        (np.True_, "boolean"),
        (1.5, "float"),
        (float("nan"), "float"),
        ("yesterday-ish", "cannot read 'yesterday-ish'"),
        ([2024, 8, 9], "list"),
    ],
)
def test_what_is_not_a_time_is_a_clear_error(value: object, why: str) -> None:
    with pytest.raises(ValueError, match="cannot read") as info:
        to_ns(value)
    assert why in str(info.value)


def test_none_means_not_given_unless_required() -> None:
    assert to_ns(None) is None
    with pytest.raises(ValueError, match="start is required"):
        require_ns(None, "start")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T, "2024-08-09T00:00:00Z"),
        (T + 250_000_000, "2024-08-09T00:00:00.250Z"),
        (T + 1_000, "2024-08-09T00:00:00.000001Z"),
        (T + 123_456_789, "2024-08-09T00:00:00.123456789Z"),
        (T + 937_085_770, "2024-08-09T00:00:00.937085770Z"),  # ns keep all nine digits
        (T + 120_000, "2024-08-09T00:00:00.000120Z"),
        (0, "1970-01-01T00:00:00Z"),
    ],
)
def test_one_iso_format_that_reads_back(ns: int, text: str) -> None:
    assert iso(ns) == text
    assert to_ns(text) == ns
