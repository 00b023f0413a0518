"""JSON that every reader accepts: RFC 8259 has no NaN or Infinity (Python writes them bare,
and jq, JavaScript and Go refuse the file), so an undefined score is written as null."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float, however deeply nested, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """json.dumps of `value` with undefined numbers as null; raises ValueError rather than write
    a non-finite number that `finite` missed (a numpy scalar, say)."""
    return json.dumps(finite(value), allow_nan=False, **options)
