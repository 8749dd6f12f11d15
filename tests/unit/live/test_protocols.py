"""Exchange protocols: subscription, decoding, MEXC's deal numbering across reconnects."""

from __future__ import annotations

import json

import pytest

from mmts.core.errors import DataFormatError
from mmts.data import mexc_messages as mm
from mmts.live.protocols import BinanceProtocol, MexcProtocol, protocol_for


def test_mexc_deals_are_numbered_in_a_run_that_breaks_at_each_reconnect() -> None:
    protocol = MexcProtocol()
    protocol.connected()
    deals = [("2600.5", "0.1", True, 1_000), ("2600.4", "0.2", False, 1_001)]
    first = protocol.decode(mm.encode_deals("ETHUSDT", deals, 1_002))
    second = protocol.decode(mm.encode_deals("ETHUSDT", deals[:1], 1_003, replay_ns=77))
    assert first is not None and second is not None
    assert first.rows["trade_id"].tolist() == [0, 1] and second.rows["trade_id"].tolist() == [2]
    assert (first.recorded, second.recorded) == (None, 77)
    protocol.connected()  # deals may have been missed: the 1 s bar builder must see a new run
    third = protocol.decode(mm.encode_deals("ETHUSDT", deals[:1], 1_004))
    assert third is not None and third.rows["trade_id"].tolist() == [4]


def test_mexc_subscribes_by_request_and_reads_its_answers() -> None:
    protocol = protocol_for("mexc")
    assert (
        protocol.url("ws://127.0.0.1:9/", ("ETHUSDT",), ("BTCUSDT",), ()) == "ws://127.0.0.1:9/ws"
    )
    (request,) = protocol.subscribe(("ETHUSDT",), ("ETHUSDT", "BTCUSDT"))
    assert json.loads(request) == {"method": "SUBSCRIPTION", "params": [
        "spot@public.aggre.depth.v3.api.pb@100ms@ETHUSDT", "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT",
        "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"]}  # fmt: skip
    assert protocol.decode('{"id":0,"code":0,"msg":"PONG"}') is None
    with pytest.raises(DataFormatError, match="refused"):
        protocol.decode('{"id":0,"code":1,"msg":"Not Subscribed successfully! [x]"}')
    with pytest.raises(DataFormatError, match="refused"):
        protocol.decode(
            '{"id":0,"code":0,"msg":"Not Subscribed successfully! [x].  Reason: Blocked! "}'
        )
    with pytest.raises(ValueError, match="30 subscriptions"):
        protocol.subscribe(tuple(f"S{k}USDT" for k in range(31)), ())


def test_binance_futures_use_fapi_and_the_combined_stream() -> None:
    protocol = protocol_for("binanceusdm")
    assert isinstance(protocol, BinanceProtocol) and protocol.futures
    assert protocol.depth_path == "/fapi/v1/depth" and protocol.klines_path == "/fapi/v1/klines"
    assert protocol.max_snapshot_limit == 1000  # USD-M refuses 5000 (spot's largest)
    url = protocol.url("ws://h:1", ("ETHUSDT",), ("BTCUSDT",), ())
    assert url == "ws://h:1/stream?streams=ethusdt@depth@100ms/btcusdt@trade"
    with pytest.raises(ValueError, match="one of binance"):
        protocol_for("kraken")
