"""The inference ledger: every prediction with its input, its outcome, and what was learned.

``open_ledger(DIR)`` reads the ledger of a run folder, a live session's ``--out`` folder or a
``ledger/`` folder; :class:`LedgerWriter` appends to one off the decision loop.
"""

from mmts.history.epochs import LedgerError
from mmts.history.ledger import Ledger, open_ledger
from mmts.history.writer import ACTIVE, MIXTURE, SHADOW, LedgerWriter, Prediction, input_id

__all__ = [
    "ACTIVE",
    "MIXTURE",
    "SHADOW",
    "Ledger",
    "LedgerError",
    "LedgerWriter",
    "Prediction",
    "input_id",
    "open_ledger",
]
