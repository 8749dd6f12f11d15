"""Market data: importers, the Parquet store and bar building.

>>> import mmts
>>> store = mmts.data.open_store("data")
"""

from mmts.core.time import to_ns
from mmts.data.bars import bars_from_trades, resample
from mmts.data.importer import ImportSummary, detect_format, import_paths
from mmts.data.store import Store, open_store

__all__ = [
    "ImportSummary",
    "Store",
    "bars_from_trades",
    "detect_format",
    "import_paths",
    "open_store",
    "resample",
    "to_ns",
]
