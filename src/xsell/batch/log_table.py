"""A batch's decision-log rows as one table, one row per decision: a Spark job's output.

:class:`~xsell.batch.log_rows.LogRows` is three tables (decisions, contacts, protected
attributes). A Spark job writes one Parquet dataset, so the three are laid side by side:
every column of :data:`~xsell.batch.log_rows.DECISION_SCHEMA`, then the contact's window
(``window_ends_at``, ``closes_at``: null when the decision is no contact) and the
protected attributes (``attributes``: null when none are recorded). The contact's other
columns are the decision's own, so nothing is lost: :func:`from_log_table` gives back the
exact three tables :func:`to_log_table` was made from.

:func:`load_log_table` reads such a dataset on the driver in chunks and adds it to the
decision log with :func:`~xsell.batch.bulk.load_log_rows`, idempotently on the decision ids:
a dataset loaded twice (a retried load, a rerun) adds nothing the second time.

Examples
--------
>>> import xsell
>>> from xsell.batch import RunContext, score_chunk
>>> agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=3)
>>> customers = xsell.make_customers(50, seed=3)
>>> agent = agent.fit_features(customers)
>>> run = RunContext("nightly", at="2026-01-05T02:00:00Z")
>>> rows = score_chunk(agent, customers, run).log
>>> table = to_log_table(rows)
>>> table.schema.equals(LOG_TABLE_SCHEMA), table.num_rows
(True, 50)
>>> back = from_log_table(table)
>>> back.decisions.equals(rows.decisions) and back.contacts.equals(rows.contacts)
True
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from sqlalchemy import Engine

from xsell.batch.bulk import load_log_rows
from xsell.batch.log_rows import CONTACT_SCHEMA, DECISION_SCHEMA, PROTECTED_SCHEMA, LogRows
from xsell.errors import InputError

__all__ = ["LOG_TABLE_SCHEMA", "from_log_table", "load_log_table", "read_log_table", "to_log_table"]

_TS = pa.timestamp("us", tz="UTC")
#: the contact columns that are not the decision's own
_WINDOW = ("window_ends_at", "closes_at")
#: the one-row-per-decision layout
LOG_TABLE_SCHEMA = pa.schema(
    [
        *DECISION_SCHEMA,
        pa.field("window_ends_at", _TS),
        pa.field("closes_at", _TS),
        pa.field("attributes", pa.string()),
    ]
)
#: the value of ``contacts.source`` for a contact made by a decision (see ``log_rows``)
_SOURCE = "decision"
_LOAD_ROWS = 100_000


def _by_decision(ids: pa.ChunkedArray, keys: pa.ChunkedArray, column: pa.ChunkedArray) -> pa.Array:
    """``column``'s value at the row whose key is each id (null where none is)."""
    at = pc.index_in(
        ids, value_set=keys.combine_chunks() if keys.num_chunks != 1 else keys.chunk(0)
    )
    return pc.take(column, at)


def to_log_table(rows: LogRows) -> pa.Table:
    """The three tables of ``rows`` as one row per decision (:data:`LOG_TABLE_SCHEMA`)."""
    d = rows.decisions.select(DECISION_SCHEMA.names)
    if d.num_rows == 0:
        return LOG_TABLE_SCHEMA.empty_table()
    ids = d["id"]
    c, p = rows.contacts, rows.protected
    extra = {
        name: _by_decision(ids, c["decision_id"], c[name])
        if c.num_rows
        else pa.nulls(d.num_rows, _TS)
        for name in _WINDOW
    }
    extra["attributes"] = (
        _by_decision(ids, p["decision_id"], p["attributes"])
        if p.num_rows
        else pa.nulls(d.num_rows, pa.string())
    )
    table = d
    for name, values in extra.items():
        table = table.append_column(LOG_TABLE_SCHEMA.field(name), values)
    return table


def _utc(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A timestamp column as microseconds in UTC.

    Spark writes timestamps as Parquet INT96 by default, which Arrow reads as naive
    nanoseconds holding UTC wall time: such values are taken as UTC.
    """
    t = col.type
    if not pa.types.is_timestamp(t):
        raise InputError(f"the decisions' timestamp columns must be timestamps, got {t}")
    if t.tz is None:
        return col.cast(pa.timestamp("us")).cast(_TS)
    return col.cast(_TS)


def _conform(table: pa.Table) -> pa.Table:
    """``table`` with :data:`LOG_TABLE_SCHEMA`'s columns and types (a Spark-written file
    may widen small integers, or write its timestamps naive)."""
    missing = [n for n in LOG_TABLE_SCHEMA.names if n not in table.column_names]
    if missing:
        raise InputError(f"the decisions file is missing the columns {missing}")
    cols = []
    for field in LOG_TABLE_SCHEMA:
        col = table[field.name]
        cols.append(_utc(col) if pa.types.is_timestamp(field.type) else col.cast(field.type))
    return pa.Table.from_arrays(cols, schema=LOG_TABLE_SCHEMA)


def from_log_table(table: pa.Table) -> LogRows:
    """The decisions, contacts and protected attributes of rows in :data:`LOG_TABLE_SCHEMA`."""
    table = _conform(table)
    decisions = table.select(DECISION_SCHEMA.names)
    contact = table.filter(pc.is_valid(table["window_ends_at"]))
    contacts = pa.Table.from_arrays(
        [
            contact["id"],
            contact["customer_id"],
            contact["product"],
            pc.fill_null(contact["channel"], ""),
            contact["at"],
            pa.array([_SOURCE] * contact.num_rows, type=pa.string()),
            contact["window_ends_at"],
            contact["closes_at"],
        ],
        schema=CONTACT_SCHEMA,
    )
    attr = table.filter(pc.is_valid(table["attributes"]))
    protected = pa.Table.from_arrays(
        [attr["id"], attr["customer_id"], attr["attributes"]], schema=PROTECTED_SCHEMA
    )
    return LogRows(decisions, contacts, protected)


def _fragments(path: str | Path) -> list[ds.Fragment]:
    where = str(path)
    if "://" not in where and not Path(where).exists():
        raise InputError(f"no decisions at {where!r}")
    return list(ds.dataset(where, format="parquet").get_fragments())


def _read(fragments: list[ds.Fragment], batch_rows: int) -> Iterator[LogRows]:
    for fragment in fragments:
        for batch in fragment.to_batches(batch_size=batch_rows):
            if batch.num_rows:
                yield from_log_table(pa.Table.from_batches([batch]))


def read_log_table(path: str | Path, *, batch_rows: int = _LOAD_ROWS) -> Iterator[LogRows]:
    """The log rows of a Parquet dataset (a file or a folder of part files, or a URI Arrow
    reads, e.g. ``s3://...``), in chunks of at most ``batch_rows`` decisions (memory stays
    bounded whatever the dataset's size)."""
    yield from _read(_fragments(path), batch_rows)


def load_log_table(
    engine: Engine, path: str | Path, *, batch_rows: int = _LOAD_ROWS, workers: int = 1
) -> int:
    """Add a Parquet dataset of log rows to the decision log; returns the new decisions.

    Each chunk of ``batch_rows`` decisions is loaded in one transaction, idempotently on
    the decision ids, so an interrupted load is finished by loading again.

    ``workers`` > 1 loads the dataset's files on that many connections at once (each file
    by one of them; PostgreSQL only: SQLite has one writer at a time). The loads touch
    disjoint decisions, so they never wait on each other's rows.
    """
    if workers < 1:
        raise InputError(f"`workers` must be >= 1, got {workers}")
    fragments = _fragments(path)
    if workers == 1 or engine.dialect.name != "postgresql" or len(fragments) < 2:
        return sum(load_log_rows(engine, rows) for rows in _read(fragments, batch_rows))

    def load(share: list[ds.Fragment]) -> int:
        return sum(load_log_rows(engine, rows) for rows in _read(share, batch_rows))

    n = min(workers, len(fragments))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="xsell-load") as pool:
        return sum(pool.map(load, [fragments[i::n] for i in range(n)]))
