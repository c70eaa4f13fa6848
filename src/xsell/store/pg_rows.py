"""PostgreSQL: a few requests' decision rows in one statement, one round trip.

A decision request adds rows to four tables. Sent as four INSERTs in a transaction, that
is six round trips and, for a varying number of rows, a statement SQLAlchemy compiles
anew each time. Here every table's rows travel as one JSON array, unpacked by
``json_populate_recordset`` into the table's own row type, all in one fixed statement
(prepared once by the driver) that commits by itself: atomic, and one round trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, TextClause, text

from xsell.store.tables import Decision, DecisionRequest, Explanation, ProtectedAttributes

__all__ = ["STATEMENT", "TABLES", "encode", "insert_encoded", "parameters"]

#: the tables written, by the keys of the rows given to :func:`insert_encoded`
TABLES = {
    "decisions": Decision.__tablename__,
    "protected": ProtectedAttributes.__tablename__,
    "explanations": Explanation.__tablename__,
    "requests": DecisionRequest.__tablename__,
}


def _statement() -> TextClause:
    keys = list(TABLES)
    parts = [
        f"w_{k} AS (INSERT INTO {t} SELECT * FROM json_populate_recordset(NULL::{t}, "
        f"CAST(:{k} AS json)))"
        for k, t in list(TABLES.items())[1:]
    ]
    main = TABLES[keys[0]]
    return text(
        f"WITH {', '.join(parts)} "
        f"INSERT INTO {main} SELECT * FROM json_populate_recordset(NULL::{main}, "
        f"CAST(:{keys[0]} AS json))"
    )


#: the statement: one JSON parameter per table of :data:`TABLES`
STATEMENT = _statement()


def _value(v: Any) -> Any:
    """A column value as JSON that PostgreSQL reads back as the column's type."""
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError(f"times must be timezone-aware (UTC), got the naive time {v}")
        return v.isoformat()
    if isinstance(v, bytes):
        return "\\x" + v.hex()  # bytea's hex input format
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{v} has no JSON form")  # the caller writes such rows otherwise
    return v


def encode(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows (column → value) as the JSON array ``json_populate_recordset`` reads."""
    return json.dumps(
        [{k: _value(v) for k, v in r.items()} for r in rows],
        separators=(",", ":"),
        allow_nan=False,
    )


def parameters(encoded: Mapping[str, str]) -> dict[str, str]:
    """:data:`STATEMENT`'s parameters for rows :func:`encode`-d by table (absent: none)."""
    return {k: encoded.get(k, "[]") for k in TABLES}


def insert_encoded(conn: Connection, encoded: Mapping[str, str]) -> None:
    """Insert the rows of :data:`TABLES`, each :func:`encode`-d (absent keys: none), in one
    statement."""
    conn.execute(STATEMENT, parameters(encoded))
