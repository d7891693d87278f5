"""Type aliases shared by the modules (annotations only; no behaviour)."""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]
Seconds = float
