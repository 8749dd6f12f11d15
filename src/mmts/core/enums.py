"""Small vocabularies shared by every layer, with int mirrors for numba kernels."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class Side(IntEnum):
    """Book side or trade aggressor side."""

    #: Bid side of a book, or a buyer-initiated (taker buy) trade.
    BUY = 1
    #: Ask side of a book, or a seller-initiated (taker sell) trade.
    SELL = -1


class BookFlag(IntFlag):
    """Bit flags on a stored book event row."""

    #: The row is a level of a full REST snapshot; a snapshot replaces the whole book.
    SNAPSHOT = 1
    #: The row is the last level of its message: the book is consistent after it.
    LAST_IN_MESSAGE = 2
    #: The row belongs to a span after an update-id gap: not applied until the next snapshot.
    INVALID = 4


# Int mirrors for numba (IntFlag members are not numba constants).
SIDE_BUY = 1
SIDE_SELL = -1
FLAG_SNAPSHOT = 1
FLAG_LAST_IN_MESSAGE = 2
FLAG_INVALID = 4
