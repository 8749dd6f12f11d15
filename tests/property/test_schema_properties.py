"""Every record dtype survives the store and the recording parser unchanged (hypothesis)."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmts.core.schema import EVENT_DTYPES, bar_dt
from mmts.data.binance_ws import read_recording
from mmts.data.store import Store

DTYPES = {**EVENT_DTYPES, "bars_1m": bar_dt}


@st.composite
def records(draw: st.DrawFn, kind: str) -> np.ndarray:
    dtype = DTYPES[kind]
    n = draw(st.integers(0, 50))
    out = np.zeros(n, dtype)
    assert dtype.names is not None
    for name in dtype.names:
        field = dtype[name]
        if field.kind == "f":
            elements = st.floats(allow_nan=True, allow_infinity=False, width=64)
        else:
            info = np.iinfo(field)
            elements = st.integers(int(info.min), int(info.max))
        out[name] = draw(hnp.arrays(field, n, elements=elements))
    time_field = "ts" if kind.startswith("bars_") else "local_ts"
    # Keep times in a few years' range so partitions stay few.
    out[time_field] = draw(
        hnp.arrays(np.int64, n, elements=st.integers(0, 3 * 365 * 86400 * 10**9))
    )
    if kind == "trades":
        out["trade_id"] = np.arange(n)  # exchange trade ids are unique
    if kind.startswith("bars_"):
        out["ts"] -= out["ts"] % (60 * 10**9)
        _, first = np.unique(out["ts"], return_index=True)
        out = out[np.sort(first)]
    return out


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(DTYPES)).flatmap(lambda k: st.tuples(st.just(k), records(k))))
def test_store_round_trip_keeps_every_field(case: tuple[str, np.ndarray]) -> None:
    kind, recs = case
    with tempfile.TemporaryDirectory() as root:
        store = Store(root)
        store.write("binance", "ETH/USDT", kind, recs)
        back = store.read("binance", "ETH/USDT", kind)
    field = "ts" if kind.startswith("bars_") else "local_ts"
    raw = np.ascontiguousarray(recs).view(np.dtype((np.void, recs.dtype.itemsize)))
    _, keep = np.unique(raw, return_index=True)  # the store drops exact duplicates
    expected = recs[np.sort(keep)]
    expected = expected[np.argsort(expected[field], kind="stable")]
    assert back.shape == expected.shape
    for name in recs.dtype.names or ():
        assert np.array_equal(back[name], expected[name], equal_nan=True), name


decimals = st.decimals(min_value="0.00000001", max_value="99999999", places=8, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(decimals, decimals, st.booleans()), min_size=1, max_size=40))
def test_trade_messages_parse_to_the_exact_values(trades: list) -> None:
    lines = []
    for i, (p, q, maker) in enumerate(trades):
        data = {
            "e": "trade",
            "t": i,
            "p": str(p),
            "q": str(q),
            "T": 1700000000000 + i,
            "m": maker,
            "M": True,
        }
        lines.append(
            f"{1700000000000000000 + i} " + json.dumps({"stream": "btcusdt@trade", "data": data})
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        (rec,), _ = read_recording(path)
    assert rec.trades["price"].tolist() == [float(p) for p, _, _ in trades]
    assert rec.trades["qty"].tolist() == [float(q) for _, q, _ in trades]
    assert rec.trades["side"].tolist() == [-1 if m else 1 for _, _, m in trades]
