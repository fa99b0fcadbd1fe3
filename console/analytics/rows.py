"""Row iteration over DataFrames for presentation code (the stubs type each cell as any pandas scalar)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def tuples(frame: pd.DataFrame) -> list[Any]:
    """The frame's rows as named tuples."""
    return list(frame.itertuples(index=False))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as plain dicts (missing values as None, numpy scalars as Python ones)."""
    out: list[dict[str, Any]] = []
    for record in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in record.items():
            if value is pd.NA or (isinstance(value, float) and pd.isna(value)):
                value = None
            elif hasattr(value, "item"):
                value = value.item()
            clean[str(key)] = value
        out.append(clean)
    return out
