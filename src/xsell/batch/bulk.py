"""Bulk loading of batch decisions into the decision log, idempotent on the decision ids.

PostgreSQL: the rows are written as CSV by Arrow and streamed with ``COPY`` (psycopg 3)
straight into the table; when a row is there already (a rerun, a resumed chunk: the
``COPY`` fails on the key), that ``COPY`` is undone (a savepoint) and the rows go through a
temporary table and ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` instead. SQLite:
one ``executemany`` per table in one transaction, with ``ON CONFLICT DO NOTHING``. Either
way a batch loaded twice (a resumed run, a retried Spark task, a rerun) adds nothing the
second time, and a batch is loaded whole or not at all.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import Connection, Engine

from xsell.batch.log_rows import CONTACT_SCHEMA, DECISION_SCHEMA, PROTECTED_SCHEMA, LogRows
from xsell.store.engine import is_postgres, write_transaction

__all__ = ["load_log_rows"]

_HEX = np.array([f"{i:02x}" for i in range(256)], dtype="S2")
#: table, its primary key, the schema of its rows
_TABLES = (
    ("decisions", "id", DECISION_SCHEMA),
    ("contacts", "decision_id", CONTACT_SCHEMA),
    ("protected_attributes", "decision_id", PROTECTED_SCHEMA),
)


def load_log_rows(engine: Engine, rows: LogRows, *, conn: Connection | None = None) -> int:
    """Add a batch's rows to the decision log; returns how many decisions were new.

    Rows whose decision id is in the log already are skipped (with their contacts and
    protected attributes). Runs in one write transaction (or in ``conn``'s, if given).
    """
    if rows.decisions.num_rows == 0:
        return 0
    if conn is not None:
        return _load(conn, rows)
    with write_transaction(engine) as c:
        return _load(c, rows)


def _load(conn: Connection, rows: LogRows) -> int:
    tables = (rows.decisions, rows.contacts, rows.protected)
    load = _copy_postgres if is_postgres(conn) else _insert_sqlite
    new = 0
    for (name, key, schema), table in zip(_TABLES, tables, strict=True):
        if table.num_rows:
            n = load(conn, name, key, table.select(schema.names))
            new = n if name == "decisions" else new
    return new


# -- PostgreSQL ------------------------------------------------------------------------------
def _hex_bytea(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Binary values as PostgreSQL's hex bytea text (``\\x0a1b...``), nulls kept."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    arr = arr.cast(pa.binary())
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    lo, hi = int(offsets[0]), int(offsets[-1])
    raw = (
        np.frombuffer(data_buf, dtype=np.uint8)[lo:hi]
        if data_buf is not None
        else np.zeros(0, np.uint8)
    )
    text = _HEX[raw].tobytes()
    hexed = pa.Array.from_buffers(
        pa.string(),
        len(arr),
        [arr.buffers()[0], pa.py_buffer(((offsets - lo) * 2).astype(np.int32)), pa.py_buffer(text)],
        null_count=arr.null_count,
        offset=0,
    )
    return pc.binary_join_element_wise(pa.scalar("\\x"), hexed, "")


def _csv_bytes(table: pa.Table) -> bytes:
    cols = [
        _hex_bytea(table[name])
        if pa.types.is_binary(table.schema.field(name).type)
        else table[name]
        for name in table.column_names
    ]
    buf = io.BytesIO()
    pcsv.write_csv(
        pa.table(cols, names=table.column_names),
        buf,
        # unquoted empty = NULL; the rows hold no empty strings (a "" would need quoting)
        pcsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return buf.getvalue()


def _copy_postgres(conn: Connection, name: str, key: str, table: pa.Table) -> int:
    """``COPY`` straight into the table; if a row is there already (a rerun, a resumed
    chunk), undo that and go through a temporary table with ``ON CONFLICT DO NOTHING``."""
    import psycopg

    cols = ", ".join(f'"{c}"' for c in table.column_names)
    data = _csv_bytes(table)
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")  # one flush at commit is enough
        try:
            with raw.transaction():  # a savepoint: a conflict undoes only this COPY
                with cur.copy(f"COPY {name} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(data)
                return int(table.num_rows)
        except psycopg.errors.UniqueViolation:
            pass
        tmp = f"xsell_load_{name}"
        cur.execute(f"CREATE TEMP TABLE {tmp} (LIKE {name} INCLUDING DEFAULTS) ON COMMIT DROP")
        with cur.copy(f"COPY {tmp} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(data)
        cur.execute(
            f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {tmp} ON CONFLICT ({key}) DO NOTHING"
        )
        n = int(cur.rowcount)
        cur.execute(f"DROP TABLE {tmp}")
    return n


# -- SQLite ----------------------------------------------------------------------------------
def _sqlite_values(col: pa.ChunkedArray, kind: pa.DataType) -> list[Any]:
    """A column as the Python values SQLAlchemy would store on SQLite."""
    if pa.types.is_timestamp(kind):
        # SQLAlchemy's SQLite DATETIME text, UTC wall time (text order = time order)
        col = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
    elif pa.types.is_boolean(kind):
        col = pc.cast(col, pa.int8())
    values: list[Any] = col.to_pylist()
    return values


def _insert_sqlite(conn: Connection, name: str, key: str, table: pa.Table) -> int:
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    marks = ", ".join("?" for _ in table.column_names)
    values = [_sqlite_values(table[c], table.schema.field(c).type) for c in table.column_names]
    sql = f"INSERT INTO {name} ({cols}) VALUES ({marks}) ON CONFLICT ({key}) DO NOTHING"
    result = conn.exec_driver_sql(sql, list(zip(*values, strict=True)))
    return int(result.rowcount)
