"""Token counts and prefix block ids, checked: whole numbers in range, or an error naming the column and row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_predict.errors import InputError
from energy_predict.prefix import BLOCK_TOKENS
from energy_predict.profile import MAX_TOKENS


def numbers(values: pd.Series) -> pd.Series:
    """Floats; NaN for anything that is not a plain number (text, lists, objects, booleans)."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index)
    try:
        return pd.to_numeric(values, errors="coerce").astype(float)
    except (TypeError, ValueError, OverflowError):
        def one(v):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                return np.nan
            try:
                return float(v)
            except OverflowError:
                return np.inf
        return values.map(one).astype(float)


def token_counts(values: pd.Series, column: str, role: str) -> np.ndarray:
    """Whole token counts in [0, MAX_TOKENS]; InputError naming the column and the first bad row otherwise."""
    x = numbers(values).to_numpy()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x) | (x < 0) | (x > MAX_TOKENS) | (x != np.round(x))
    if bad.any():
        first = int(np.argmax(bad))
        v = x[first]
        why = ("missing or not a number" if np.isnan(v) else "negative" if v < 0 else
               f"above {MAX_TOKENS:,} tokens" if v > MAX_TOKENS else "not a whole number")
        raise InputError(column, f"{int(bad.sum())} rows with bad {role} token counts (first: data row {first + 1}, "
                         f"{why}; counts must be whole, not negative, at most {MAX_TOKENS:,})",
                         "clean the trace or drop those rows")
    return x.astype(np.int64)


def block_ids(values: pd.Series, input_tokens: np.ndarray) -> list[tuple[int, ...]]:
    """Each row's prefix block ids: whole numbers >= 0, one per started block of its input; InputError otherwise."""
    out, bad, first_why = [], 0, ""
    for row, (ids, n) in enumerate(zip(values, input_tokens)):
        why = ""
        if not isinstance(ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in ids):
            why = "not a list of whole numbers"
        elif any(not 0 <= h < 2**63 for h in ids):
            why = "an id outside 0 .. 2^63 - 1"
        elif len(ids) != -(-int(n) // BLOCK_TOKENS):
            why = f"{len(ids)} ids for {int(n)} input tokens (one per {BLOCK_TOKENS}-token block)"
        if why:
            bad += 1
            first_why = first_why or f"data row {row + 1}, {why}"
            continue
        out.append(tuple(ids))
    if bad:
        raise InputError("hash_ids", f"{bad} rows with bad prefix block ids (first: {first_why})",
                         "give each request the ids of its 512-token prompt blocks, as Mooncake traces do")
    return out
