"""Array aliases shared by the whole package."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]
I8Array = npt.NDArray[np.int8]
U8Array = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
RecordArray = npt.NDArray[np.void]
