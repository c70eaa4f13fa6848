"""Customer records (JSON objects) read as typed columns, exactly as pandas would read them.

The HTTP service receives one customer, or a few, as JSON objects. Building a DataFrame
for one row costs more than deciding for it, so :class:`CustomerRecords` reads the columns
the featurizer and the guardrails need straight into NumPy. It gives the same arrays
``pandas.DataFrame.from_records(records)`` followed by the DataFrame readers would, or,
where pandas' type inference could make a difference (a column of mixed types, a
numeric column holding only nulls, a flag with a null ...), raises :class:`NotExact`: the
caller then takes the DataFrame path, whose result (or error) is the reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CustomerRecords", "NotExact"]

_INT64 = 2**63


class NotExact(Exception):
    """The records hold something only the DataFrame path reads exactly (an internal signal)."""


def _is_number(v: object) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -_INT64 <= v < _INT64
    return isinstance(v, float)


class CustomerRecords:
    """A list of customer records seen as the columns of a table.

    Every reader raises :class:`NotExact` unless it can give exactly what the DataFrame
    reader of the same column gives on ``pandas.DataFrame.from_records(records)``.

    Examples
    --------
    >>> t = CustomerRecords([{"customer_id": 6, "age": 30}, {"customer_id": 7, "age": None}])
    >>> t.numeric("age").tolist(), t.ids("customer_id").tolist()
    ([30.0, nan], ['6', '7'])
    >>> CustomerRecords([{"customer_id": "a"}, {"customer_id": 7}]).ids("customer_id")
    Traceback (most recent call last):
    ...
    xsell.features.records.NotExact: customer_id
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.records = records
        self._columns: set[str] | None = None
        self._read: dict[tuple[str, str], Any] = {}  # columns read so far (rules reread some)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def columns(self) -> set[str]:
        """Every key of any record (the DataFrame's columns)."""
        if self._columns is None:
            self._columns = {k for r in self.records for k in r}
        return self._columns

    def values(self, col: str) -> list[Any]:
        """The raw values of a column (``None`` where a record lacks it)."""
        if col not in self.columns:
            raise NotExact(col)  # the DataFrame path names the missing column
        return [r.get(col) for r in self.records]

    def numeric(self, col: str) -> np.ndarray:
        """A numeric column as float64, NaN where missing (pandas: int64 or float64)."""
        key = ("numeric", col)
        if key not in self._read:
            vals = self.values(col)
            known = [v for v in vals if v is not None]
            if not known or not all(_is_number(v) for v in known):
                raise NotExact(col)  # only nulls (object dtype), or a mix kept as object
            out = np.array([math.nan if v is None else v for v in vals], dtype=np.float64)
            self._read[key] = _frozen(out)
        return self._read[key]  # type: ignore[no-any-return]

    def numeric_matrix(self, cols: Sequence[str]) -> np.ndarray:
        """Several numeric columns at once, shape (n, len(cols)), each read as :meth:`numeric`."""
        for c in cols:
            if c not in self.columns:
                raise NotExact(c)
        rows = [[r.get(c) for c in cols] for r in self.records]
        seen = [False] * len(cols)
        for row in rows:
            for j, v in enumerate(row):
                if v is None:
                    continue
                if not _is_number(v):
                    raise NotExact(cols[j])
                seen[j] = True
        if not all(seen):
            raise NotExact(cols[seen.index(False)])  # only nulls: pandas reads object dtype
        out = np.array(
            [[math.nan if v is None else v for v in row] for row in rows], dtype=np.float64
        )
        return out.reshape(len(rows), len(cols))

    def flags(self, col: str) -> np.ndarray:
        """A true/false column without nulls as bool (pandas: bool dtype)."""
        key = ("flags", col)
        if key not in self._read:
            vals = self.values(col)
            if not all(isinstance(v, bool) for v in vals):
                raise NotExact(col)
            self._read[key] = _frozen(np.array(vals, dtype=bool))
        return self._read[key]  # type: ignore[no-any-return]

    def ids(self, col: str) -> np.ndarray:
        """An id column as an object array of ``str``: text, or whole numbers written out
        as ``str`` writes them (pandas reads those as int64, then as these strings)."""
        key = ("ids", col)
        if key not in self._read:
            vals = self.values(col)
            if all(_is_number(v) and isinstance(v, int) for v in vals):
                vals = [str(v) for v in vals]
            elif not all(isinstance(v, str) for v in vals):
                raise NotExact(col)  # nulls, floats or a mix: pandas' reading is the reference
            out = np.empty(len(vals), dtype=object)
            out[:] = vals
            self._read[key] = _frozen(out)
        return self._read[key]  # type: ignore[no-any-return]

    def text(self, col: str) -> list[str | None]:
        """A text column (``None`` where missing); text and nulls only."""
        key = ("text", col)
        if key not in self._read:
            vals = self.values(col)
            if not all(v is None or isinstance(v, str) for v in vals):
                raise NotExact(col)
            self._read[key] = vals
        return self._read[key]  # type: ignore[no-any-return]

    def codes(self, col: str, levels: Sequence[str]) -> np.ndarray:
        """Index of each value in ``levels``; -1 for missing or unseen (text values only)."""
        index = {lvl: i for i, lvl in enumerate(levels)}
        return np.array(
            [-1 if v is None else index.get(v, -1) for v in self.text(col)], dtype=np.int64
        )


def _frozen(a: np.ndarray) -> np.ndarray:
    """Read-only: a column read once is shared by every reader."""
    a.setflags(write=False)
    return a


class RecordParts(CustomerRecords):
    """Several customer tables decided in one go, each read exactly as it would be alone.

    Every column is read part by part and the parts' arrays concatenated, so a part whose
    reading alone would need pandas raises :class:`NotExact` here too, and no value of
    one part changes how another is read (pandas infers a column's type from all its rows:
    a null in a part of one row reads differently alone than beside numbers).

    Examples
    --------
    >>> alone = CustomerRecords([{"age": None}])
    >>> both = RecordParts([CustomerRecords([{"age": 30}]), alone])
    >>> CustomerRecords([{"age": 30}, {"age": None}]).numeric("age").tolist()
    [30.0, nan]
    >>> both.numeric("age")
    Traceback (most recent call last):
    ...
    xsell.features.records.NotExact: age
    """

    def __init__(self, parts: Sequence[CustomerRecords]) -> None:
        super().__init__([r for p in parts for r in p.records])
        self.parts = list(parts)
        self.bounds = np.cumsum([0, *(len(p) for p in parts)])

    @property
    def columns(self) -> set[str]:
        """The columns every part has (a column one part lacks is missing for that part)."""
        if self._columns is None:
            self._columns = set.intersection(*(p.columns for p in self.parts))
        return self._columns

    def values(self, col: str) -> list[Any]:
        """The raw values of a column, part after part."""
        return [v for p in self.parts for v in p.values(col)]

    def numeric(self, col: str) -> np.ndarray:
        """Each part's :meth:`CustomerRecords.numeric`, concatenated."""
        return np.concatenate([p.numeric(col) for p in self.parts])

    def numeric_matrix(self, cols: Sequence[str]) -> np.ndarray:
        """Each part's :meth:`CustomerRecords.numeric_matrix`, stacked."""
        return np.vstack([p.numeric_matrix(cols) for p in self.parts])

    def flags(self, col: str) -> np.ndarray:
        """Each part's :meth:`CustomerRecords.flags`, concatenated."""
        return np.concatenate([p.flags(col) for p in self.parts])

    def ids(self, col: str) -> np.ndarray:
        """Each part's :meth:`CustomerRecords.ids`, concatenated."""
        return np.concatenate([p.ids(col) for p in self.parts])

    def text(self, col: str) -> list[str | None]:
        """Each part's :meth:`CustomerRecords.text`, concatenated."""
        return [v for p in self.parts for v in p.text(col)]

    def codes(self, col: str, levels: Sequence[str]) -> np.ndarray:
        """Each part's :meth:`CustomerRecords.codes`, concatenated."""
        return np.concatenate([p.codes(col, levels) for p in self.parts])
