"""The ledger's tables and their columns (one definition; readers and writers share it)."""

from __future__ import annotations

import pyarrow as pa

TIME = pa.timestamp("ns", tz="UTC")

#: One row per expert output (or failure) and per mixture decision.
PREDICTIONS = pa.schema([
    ("time", TIME), ("symbol", pa.string()), ("model", pa.string()), ("model_type", pa.string()),
    ("version", pa.string()), ("role", pa.string()), ("action", pa.string()),
    ("p_sell", pa.float64()), ("p_hold", pa.float64()), ("p_buy", pa.float64()),
    ("confidence", pa.float64()), ("hidden", pa.list_(pa.float32())),
    ("q_values", pa.list_(pa.float64())), ("value", pa.float64()),
    ("latency_us", pa.float64()), ("weight", pa.float64()), ("input_id", pa.string()),
    ("failure", pa.string()), ("size", pa.float64()), ("price", pa.float64()),
    ("note", pa.string()),
])  # fmt: skip

#: One row per prediction whose horizon has passed (``mmts.history.outcomes``).
OUTCOMES = pa.schema([
    ("time", TIME), ("model", pa.string()), ("role", pa.string()), ("input_id", pa.string()),
    ("resolved_at", TIME), ("realized_return", pa.float64()), ("outcome", pa.string()),
    ("correct", pa.bool_()), ("follow_return", pa.float64()), ("pnl", pa.float64()),
    ("log_loss", pa.float64()), ("brier", pa.float64()),
])  # fmt: skip

#: One row per input a prediction read: what it is made of and how complete it was.
INPUTS = pa.schema([
    ("input_id", pa.string()), ("epoch", pa.int32()), ("time", TIME), ("layout", pa.string()),
    ("hash", pa.string()), ("model_outputs", pa.binary()), ("model_outputs_mask", pa.binary()),
    ("complete", pa.map_(pa.string(), pa.float32())), ("verdict", pa.string()),
])  # fmt: skip

#: Closed bars, each stored once per writer epoch; ``seen_from``: the first input holding it.
BAR_FRAMES = pa.schema([
    ("epoch", pa.int32()), ("series", pa.string()), ("open", pa.int64()),
    ("seen_from", pa.int64()), ("ohlcv", pa.binary()),
])  # fmt: skip

#: COB rows (one per second), each stored once per writer epoch.
COB_FRAMES = pa.schema([
    ("epoch", pa.int32()), ("second", pa.int64()), ("seen_from", pa.int64()),
    ("bid", pa.binary()), ("ask", pa.binary()), ("imbalance", pa.float64()), ("ma", pa.binary()),
])  # fmt: skip

#: Raised conditions (see ``mmts.history.alerts``).
ALERTS = pa.schema([
    ("time", TIME), ("severity", pa.string()), ("kind", pa.string()), ("subject", pa.string()),
    ("reason", pa.string()), ("value", pa.float64()), ("threshold", pa.float64()),
])  # fmt: skip

#: What the online learner did: trained a shadow, promoted, rejected, rolled back, confirmed.
PROMOTIONS = pa.schema([
    ("time", TIME), ("model", pa.string()), ("event", pa.string()),
    ("from_version", pa.string()), ("to_version", pa.string()), ("why", pa.string()),
    ("evidence", pa.string()), ("checkpoint", pa.string()),
])  # fmt: skip

#: Operator commands a session applied (or refused), each with its acknowledgement.
COMMANDS = pa.schema([
    ("time", TIME), ("id", pa.string()), ("who", pa.string()), ("command", pa.string()),
    ("args", pa.string()), ("issued_at", TIME), ("applied_at", TIME), ("result", pa.string()),
    ("detail", pa.string()),
])  # fmt: skip

TABLES: dict[str, pa.Schema] = {
    "predictions": PREDICTIONS,
    "outcomes": OUTCOMES,
    "inputs": INPUTS,
    "bar_frames": BAR_FRAMES,
    "cob_frames": COB_FRAMES,
    "alerts": ALERTS,
    "promotions": PROMOTIONS,
    "commands": COMMANDS,
}
