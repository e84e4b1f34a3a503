"""Tables as a notebook shows them: rounded, intervals as ``x [a, b]``, "—" instead of NaN, the paper's rows beside
ours. Display only: the CSV/Markdown tables that ``save_table`` writes keep their numbers and columns."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

NA = "—"  # what a missing value reads as


def decimals(value: float, digits: int = 3) -> int:
    """Decimals that show ``value`` with ``digits`` significant digits (0 for large numbers, at most 6)."""
    if not np.isfinite(value) or value == 0:
        return digits - 1
    return int(min(6, max(0, digits - 1 - math.floor(math.log10(abs(value))))))


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and not _missing(value)


def fmt(value, digits: int = 3, places: int | None = None, signed: bool = False, na: str = NA) -> str:
    """One number as text: ``digits`` significant digits (or ``places`` decimals), ``+`` before a positive value when
    ``signed``, ``na`` for NaN/None; anything that is not a number is returned as its text."""
    if _missing(value):
        return na
    if not _is_number(value):
        return str(value)
    if isinstance(value, (int, np.integer)) and places is None:
        return f"{value:+d}" if signed else f"{value:d}"
    value = float(value)
    if not np.isfinite(value):
        return na if math.isnan(value) else str(value)
    places = decimals(value, digits) if places is None else places
    return f"{value:{'+' if signed else ''}.{places}f}"


def interval(est, low, high, digits: int = 3, signed: bool = False, na: str = NA) -> str:
    """``"33.7 [26.1, 43.4]"``: the estimate and its interval to one number of decimals, the one that gives the
    largest of the three (in size) ``digits`` significant digits; the estimate alone when the interval is missing;
    ``na`` when the estimate is."""
    if est is None or est is pd.NA or not np.isfinite(float(est)):
        return na
    bounds = [float(v) for v in (low, high) if v is not None and v is not pd.NA and np.isfinite(float(v))]
    places = decimals(max([abs(float(est)), *map(abs, bounds)]), digits)
    text = fmt(est, places=places, signed=signed)
    if len(bounds) < 2:
        return text
    return f"{text} [{fmt(low, places=places, signed=signed)}, {fmt(high, places=places, signed=signed)}]"


def tidy(df: pd.DataFrame, digits: int | Mapping[str, int] = 3, na: str = NA,
         signed: Sequence[str] = ()) -> pd.DataFrame:
    """A copy with every number as text, one number of decimals per column: the one that gives the column's median
    size ``digits`` significant digits (a mapping: per column, default 3); integers stay whole; ``+`` on the
    ``signed`` columns; ``na`` for every missing value. Text and boolean values are left as they are (also in
    mixed columns, e.g. a transposed table)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        d = digits.get(col, 3) if isinstance(digits, Mapping) else digits
        if pd.api.types.is_bool_dtype(s):
            continue
        nums = [float(v) for v in s if _is_number(v) and np.isfinite(float(v)) and float(v) != 0]
        places = decimals(float(np.median(np.abs(nums))), d) if nums else None
        out[col] = pd.Series([fmt(v, d, places=None if isinstance(v, (int, np.integer)) else places,
                                  signed=col in signed, na=na) if _is_number(v) or _missing(v) else v for v in s],
                             index=s.index, dtype=object)
    return out


def with_intervals(df: pd.DataFrame, metrics: Sequence[str] | None = None, digits: int | Mapping[str, int] = 3,
                   signed: bool = False, na: str = NA, rest: bool = True) -> pd.DataFrame:
    """Each metric's estimate and 95% interval as one text column ``"33.7 [26.1, 43.4]"`` in the estimate's place.

    Wide form: columns ``m``, ``m_low``, ``m_high`` (``metrics``: default every ``m`` that has both bounds). Long
    form: columns ``estimate``, ``low``, ``high`` (used when ``metrics`` is None and they are present). The estimate
    alone where the interval is missing, ``na`` where the estimate is. ``digits``: significant digits of the
    estimate (a mapping: per metric), the bounds to as many decimals; ``signed``: ``+`` on positive numbers (for
    effects). ``rest``: the other columns through :func:`tidy` too."""
    out = df.copy()
    if metrics is None:
        metrics = [c for c in df.columns if f"{c}_low" in df.columns and f"{c}_high" in df.columns]
        pairs = {m: (f"{m}_low", f"{m}_high") for m in metrics}
        if not pairs and {"estimate", "low", "high"} <= set(df.columns):
            pairs = {"estimate": ("low", "high")}
    else:
        pairs = {m: (f"{m}_low", f"{m}_high") for m in metrics}
    for m, (lo, hi) in pairs.items():
        d = digits.get(m, 3) if isinstance(digits, Mapping) else digits
        lows = df[lo] if lo in df.columns else pd.Series(np.nan, index=df.index)
        highs = df[hi] if hi in df.columns else pd.Series(np.nan, index=df.index)
        out[m] = [interval(e, a, b, d, signed, na) for e, a, b in zip(df[m], lows, highs)]
        out = out.drop(columns=[c for c in (lo, hi) if c in out.columns])
    if rest:
        others = [c for c in out.columns if c not in pairs]
        tidied = tidy(out[others], digits if not isinstance(digits, Mapping) else 3, na)
        for c in others:
            out[c] = tidied[c]
    return out


def interval_table(long: pd.DataFrame, row: str = "system", column: str = "metric", digits: int = 3,
                   na: str = NA, base: pd.DataFrame | None = None) -> pd.DataFrame:
    """A long table (``row``, ``column``, ``estimate``, ``low``, ``high``; e.g. ``reproduction.intervals``) as one
    row per ``row`` value and one text column per ``column`` value, ``"x [a, b]"`` in each cell, ``na`` where a
    pair was not measured; rows and columns in the order they first appear.

    ``base``: a wide table with a ``row`` column (e.g. Table 1 as saved, whose cells carry every digit): the result
    keeps its rows, columns and order, its columns named like a ``column`` value take the rounded cells, and its
    other columns go through :func:`tidy`."""
    cells = with_intervals(long[[row, column, "estimate", "low", "high"]], digits=digits, na=na, rest=False)
    wide = cells.pivot(index=row, columns=column, values="estimate")
    wide = wide.reindex(index=list(dict.fromkeys(long[row])), columns=list(dict.fromkeys(long[column])))
    wide = wide.astype(object).where(wide.notna(), na)
    wide.columns.name = None
    if base is None:
        return wide.reset_index()
    out = tidy(base, digits, na)
    for c in wide.columns:
        if c in out.columns:
            out[c] = wide[c].reindex(base[row]).fillna(na).to_numpy()
    return out


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, columns: Sequence[str] | None = None,
                 ours_label: str = "ours", paper_label: str = "paper (reported)", source: str = "source",
                 digits: int = 3, na: str = NA) -> pd.DataFrame:
    """Our rows, then the paper's reported rows, on ``columns`` (default: our columns the paper also has, in our
    order, then the paper's others), with a first column ``source`` saying whose each row is; numbers rounded to
    ``digits`` significant digits and "—" (``na``) wherever a side has no value (not NaN)."""
    if columns is None:
        columns = [c for c in ours.columns if c in paper.columns] + \
                  [c for c in paper.columns if c not in ours.columns]
    parts = [tidy(ours.reindex(columns=list(columns)), digits, na).assign(**{source: ours_label}),
             tidy(paper.reindex(columns=list(columns)), digits, na).assign(**{source: paper_label})]
    out = pd.concat(parts, ignore_index=True)[[source, *columns]]
    return out.astype(object).where(out.notna(), na)
