"""MEXC protobuf pushes: our schema is MEXC's, real Binance messages survive the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmts.core.errors import DataFormatError
from mmts.data import binance_messages as bm
from mmts.data import mexc_messages as mm

ROOT = Path(__file__).resolve().parents[3]
ETH = ROOT / "data" / "raw" / "binance-ws" / "spot" / "ethusdt_20240808.gz"


def _lines(kind: str, n: int) -> list[dict]:
    from mmts.data.binance_ws import read_bytes

    out = []
    for line in read_bytes(ETH).decode().splitlines():
        text = line.partition(" ")[2]
        if f'@{kind}"' in text[:40] or (kind == "depth" and "@depth@" in text[:40]):
            out.append(json.loads(text)["data"])
            if len(out) == n:
                break
    return out


def test_our_schema_reads_and_writes_what_ccxt_s_generated_mexc_classes_do() -> None:
    """ccxt ships classes generated from MEXC's published .proto files: both ways must agree."""
    # ccxt is a hard dependency and ships these: a broken install must fail, not skip.
    from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2 as wrapper_pb2

    theirs = wrapper_pb2.PushDataV3ApiWrapper(
        channel="spot@public.aggre.depth.v3.api.pb@100ms@ETHUSDT", symbol="ETHUSDT", sendTime=1723161254123
    )  # fmt: skip
    theirs.publicAggreDepths.fromVersion, theirs.publicAggreDepths.toVersion = "41", "43"
    theirs.publicAggreDepths.bids.add(price="2600.01", quantity="1.5")
    theirs.publicAggreDepths.asks.add(price="2600.02", quantity="0")
    push = mm.decode_push(theirs.SerializeToString())
    rows = mm.depth_rows(push, 7)
    assert (push.kind, push.symbol, push.send_ms, push.replay_ns) == (
        "depth",
        "ETHUSDT",
        1723161254123,
        None,
    )
    assert rows["first_id"].tolist() == [41, 41] and rows["last_id"].tolist() == [43, 43]
    assert rows["side"].tolist() == [1, -1] and rows["price"].tolist() == [2600.01, 2600.02]

    ours = mm.encode_deals("ETHUSDT", [("2600.5", "0.25", False, 1723161254100)], 1723161254101, 99)
    decoded = wrapper_pb2.PushDataV3ApiWrapper()
    decoded.ParseFromString(ours)  # our replay field is an unknown field to MEXC's schema
    deal = decoded.publicAggreDeals.deals[0]
    assert decoded.channel == "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT"
    assert (deal.price, deal.quantity, deal.tradeType, deal.time) == (
        "2600.5",
        "0.25",
        2,
        1723161254100,
    )


def test_real_depth_and_trades_give_the_binance_rows_after_a_mexc_round_trip() -> None:
    for data in _lines("depth", 200):
        frame = mm.encode_depth("ETHUSDT", data["b"], data["a"], data["U"], data["u"], data["E"], 5)
        ours = mm.depth_rows(mm.decode_push(frame), 9)
        np.testing.assert_array_equal(ours, bm.depth_rows(data, 9))
    for data in _lines("trade", 200):
        frame = mm.encode_deals(
            "ETHUSDT", [(data["p"], data["q"], not data["m"], data["T"])], data["E"]
        )
        ours = mm.deal_records(mm.decode_push(frame), 9)
        theirs = bm.trade_record(data, 9)
        theirs["trade_id"] = ours["trade_id"]  # MEXC sends no trade id
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\n\x30spot@public.aggre", "not a PushDataV3ApiWrapper"),
        (mm.encode_depth("ETHUSDT", [["2600", "-1"]], [], 1, 2, 1), "non-negative"),
        (mm.encode_depth("ETHUSDT", [["abc", "1"]], [], 1, 2, 1), "bad level"),
        (mm.encode_deals("ETHUSDT", [("0", "1", True, 5)], 1), "positive"),
    ],
)
def test_bad_pushes_are_refused_with_what_was_wrong(frame: bytes, message: str) -> None:
    def read(frame: bytes) -> object:
        push = mm.decode_push(frame)
        return (mm.depth_rows if push.kind == "depth" else mm.deal_records)(push, 0)

    with pytest.raises(DataFormatError, match=message):
        read(frame)


def test_a_bad_version_names_the_field() -> None:
    push = mm.wrapper_class()(channel=f"{mm.DEPTH_CHANNEL}@ETHUSDT", symbol="ETHUSDT")
    push.publicAggreDepths.fromVersion, push.publicAggreDepths.toVersion = "x1", "2"
    with pytest.raises(DataFormatError, match="fromVersion 'x1'"):
        mm.depth_rows(mm.decode_push(push.SerializeToString()), 0)
