"""Scoring a Spark DataFrame of customers: the local batch's decisions, on executors.

Each Spark task runs :func:`~xsell.batch.scoring.score_chunk` (and, for campaign capacity,
:func:`~xsell.batch.scoring.capacity_candidates`) on its rows, exactly as the local runner
runs it on a chunk, so the decisions are the same whatever the partitioning:

* **the agent** is saved to bytes (:func:`~xsell.store.registry.agent_to_bytes`: the npz +
  JSON manifest format, never a pickle), broadcast once, and rebuilt once per executor
  Python worker, cached by a digest of the bytes (Spark reuses its Python workers, so a
  worker scoring a hundred tasks loads the model once);
* **the contact history** is the run's :class:`~xsell.batch.snapshot.ContactSnapshot`,
  read from Parquet by Spark (executors never open the database). Its rows (per customer
  and product) are laid out one row per contacted customer and joined to the customers on
  the customer id, so each task sees only its own customers' contacts. A snapshot under
  :data:`BROADCAST_ROWS` rows is broadcast (no shuffle of the customers); a larger one is
  joined by a shuffle, which keeps every executor's memory bounded;
* **campaign capacity** is the local runner's two passes: pass one scores every customer
  for their best candidates per capped product, keeps each partition's best, and ranks the
  union in Spark for each product's threshold (:func:`capacity_thresholds`); pass two decides
  with the thresholds (:attr:`~xsell.batch.scoring.RunContext.thresholds`);
* **the output** is one row per decision in :data:`~xsell.batch.log_table.LOG_TABLE_SCHEMA`
  (the decision log's rows), whose Spark schema is declared (:func:`log_table_ddl`).

Tasks use ``mapInArrow``: a task's rows arrive as Arrow record batches and are turned into
pandas exactly as the local runner turns a chunk read from the file, and the log rows go
back as Arrow, with no per-row Python objects on either side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xsell.batch.capacity import CapacityPlan, CapacityThresholds
from xsell.batch.log_table import LOG_TABLE_SCHEMA, to_log_table
from xsell.batch.reader import required_columns
from xsell.batch.scoring import RunContext, capacity_candidates, score_chunk
from xsell.batch.snapshot import ContactSnapshot
from xsell.batch.spark.session import require_pyspark
from xsell.errors import InputError, SchemaError
from xsell.store.registry import agent_from_bytes, agent_to_bytes

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame

    from xsell.agent import Agent

__all__ = [
    "BROADCAST_ROWS",
    "capacity_thresholds",
    "log_table_ddl",
    "score_dataframe",
]

#: a contact snapshot of at most this many (customer, product) rows is broadcast
BROADCAST_ROWS = 500_000
#: customers a task decides at a time (Arrow batches are gathered up to this many rows)
BATCH_ROWS = 50_000
#: prefix of the snapshot's columns joined to the customers
_SNAP = "_xsell_snapshot_"
_SNAP_ID = _SNAP + "id"
_SIGN = np.uint64(1 << 63)
_DDL_TYPES = {
    pa.string(): "STRING",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.binary(): "BINARY",
}


def log_table_ddl() -> str:
    """The Spark schema (DDL) of the scored rows: :data:`LOG_TABLE_SCHEMA`, type by type.

    Examples
    --------
    >>> log_table_ddl().split(", ")[:3]
    ['`id` STRING', '`at` TIMESTAMP', '`customer_id` STRING']
    """
    return ", ".join(f"`{f.name}` {_DDL_TYPES[f.type]}" for f in LOG_TABLE_SCHEMA)


# -- the agent on the executors --------------------------------------------------------------
@dataclass(frozen=True)
class _Shipped:
    """The broadcast agent bytes and their digest (the worker-side cache key)."""

    digest: str
    data: Broadcast[bytes]


#: driver side: one broadcast per (Spark context, agent bytes)
_BROADCASTS: dict[tuple[str, str], Any] = {}
#: worker side: the agent of the digest last used (one model version per worker at a time)
_AGENTS: dict[str, Agent] = {}


def _ship(agent: Agent) -> _Shipped:
    sql = require_pyspark()
    sc = sql.SparkSession.builder.getOrCreate().sparkContext
    data = agent_to_bytes(agent)
    digest = hashlib.sha256(data).hexdigest()
    key = (str(sc.applicationId), digest)  # a new context (after a stop) broadcasts anew
    if key not in _BROADCASTS:
        _BROADCASTS[key] = sc.broadcast(data)
    return _Shipped(digest, _BROADCASTS[key])


def _worker_agent(shipped: _Shipped) -> Agent:
    agent = _AGENTS.get(shipped.digest)
    if agent is None:
        _AGENTS.clear()
        agent = agent_from_bytes(shipped.data.value)
        _AGENTS[shipped.digest] = agent
    return agent


# -- what a task runs ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    """What every task of a run needs besides its rows."""

    shipped: _Shipped
    run: RunContext
    customer_id: str
    products: tuple[str, ...]
    batch_rows: int


def _gathered(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """A task's record batches as tables of about ``rows`` rows (fewer calls to the agent)."""
    held: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        held.append(batch)
        n += batch.num_rows
        if n >= rows:
            yield pa.Table.from_batches(held)
            held, n = [], 0
    if held:
        yield pa.Table.from_batches(held)


def _split(task: _Task, table: pa.Table) -> tuple[Any, ContactSnapshot]:
    """A task's rows as (customers, their contact snapshot)."""
    names = [n for n in table.column_names if not n.startswith(_SNAP)]
    customers = table.select(names).to_pandas()
    ids = table[task.customer_id].cast(pa.string())
    parts = []
    for k, product in enumerate(task.products):
        n_cap = table[f"{_SNAP}{k}_cap"]
        has = pc.is_valid(n_cap)
        m = pc.sum(has.cast(pa.int64())).as_py() or 0
        if m == 0:
            continue
        parts.append(
            pa.table(
                {
                    "customer_id": ids.filter(has),
                    "product_id": pa.array([product] * m, type=pa.string()),
                    "last_at": table[f"{_SNAP}{k}_at"]
                    .filter(has)
                    .cast(pa.int64())
                    .cast(pa.timestamp("us", tz="UTC")),
                    "n_cap": n_cap.filter(has).cast(pa.int32()),
                    "n_limit": table[f"{_SNAP}{k}_limit"].filter(has).cast(pa.int32()),
                }
            )
        )
    if not parts:
        return customers, ContactSnapshot.empty(task.run.at)
    return customers, ContactSnapshot.from_arrow(pa.concat_tables(parts), task.run.at)


def _score_task(task: _Task, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pass two (the decisions): a task's log rows."""
    agent = _worker_agent(task.shipped)
    for table in _gathered(batches, task.batch_rows):
        customers, snapshot = _split(task, table)
        rows = to_log_table(score_chunk(agent, customers, task.run, snapshot).log)
        yield from rows.to_batches()


def _candidate_task(
    task: _Task, limits: dict[str, int], batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Pass one (capacity): a task's best candidates per capped product."""
    agent = _worker_agent(task.shipped)
    plan = CapacityPlan.for_catalog(limits, agent.catalog)
    for table in _gathered(batches, task.batch_rows):
        customers, snapshot = _split(task, table)
        plan.merge(capacity_candidates(agent, customers, task.run, limits, snapshot))
    for product, (values, keys) in plan.candidates().items():
        if len(values):
            yield pa.RecordBatch.from_pydict(
                {
                    "product": pa.array([product] * len(values), type=pa.string()),
                    "value": pa.array(values, type=pa.float64()),
                    # uint64 as an order-preserving int64: Spark has no unsigned type
                    "key": pa.array((np.asarray(keys, np.uint64) ^ _SIGN).view(np.int64)),
                }
            )


# -- the driver side -------------------------------------------------------------------------
def _customer_columns(agent: Agent, customers: DataFrame) -> list[str]:
    cols = required_columns(agent)
    present = set(customers.columns)
    missing = [c for c in cols.required if c not in present]
    if missing:
        raise SchemaError(
            f"`customers` is missing the column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more: {missing[1:6]})" if len(missing) > 1 else "")
        )
    return [*cols.required, *[c for c in cols.optional if c in present]]


def _check_unique(customers: DataFrame, customer_id: str) -> None:
    sql = require_pyspark()
    twin = (
        customers.groupBy(sql.functions.col(customer_id).cast("string").alias("id"))
        .count()
        .filter("count > 1")
        .limit(1)
        .collect()
    )
    if twin:
        raise InputError(
            f"`customers` column {customer_id!r} has duplicated customer id {twin[0]['id']!r}: "
            "each customer is decided once per run"
        )


def _prepared(
    agent: Agent,
    customers: DataFrame,
    snapshot: DataFrame | None,
    *,
    partitions: int | None,
    check_unique: bool,
) -> tuple[DataFrame, tuple[str, ...]]:
    """The customers' columns the agent reads, with their snapshot rows joined."""
    sql = require_pyspark()
    F = sql.functions
    cid = agent.spec.customer_id
    frame = customers.select(*_customer_columns(agent, customers))
    if check_unique:
        _check_unique(frame, cid)
    products: tuple[str, ...] = ()
    rows = 0
    if snapshot is not None:
        per_product = snapshot.groupBy("product_id").count().collect()
        products = tuple(sorted(str(r["product_id"]) for r in per_product))
        rows = sum(int(r["count"]) for r in per_product)
    if products:
        assert snapshot is not None
        pid = F.col("product_id")
        aggs = []
        for k, p in enumerate(products):
            aggs += [
                F.max(F.when(pid == p, F.unix_micros("last_at"))).alias(f"{_SNAP}{k}_at"),
                F.max(F.when(pid == p, F.col("n_cap"))).alias(f"{_SNAP}{k}_cap"),
                F.max(F.when(pid == p, F.col("n_limit"))).alias(f"{_SNAP}{k}_limit"),
            ]
        wide = snapshot.groupBy(F.col("customer_id").alias(_SNAP_ID)).agg(*aggs)
        if rows <= BROADCAST_ROWS:
            wide = F.broadcast(wide)
        frame = frame.join(wide, F.col(cid).cast("string") == F.col(_SNAP_ID), "left").drop(
            _SNAP_ID
        )
    if partitions is not None:
        frame = frame.repartition(partitions, F.col(cid))
    return frame, products


def _task(agent: Agent, run: RunContext, products: tuple[str, ...], batch_rows: int) -> _Task:
    if batch_rows < 1:
        raise InputError(f"`batch_rows` must be >= 1, got {batch_rows}")
    return _Task(_ship(agent), run, agent.spec.customer_id, products, int(batch_rows))


def capacity_thresholds(
    agent: Agent,
    customers: DataFrame,
    run: RunContext,
    limits: Mapping[str, int],
    snapshot: DataFrame | None = None,
    *,
    partitions: int | None = None,
    check_unique: bool = True,
    batch_rows: int = BATCH_ROWS,
) -> CapacityThresholds:
    """Campaign capacity, pass one, on Spark: each capped product's threshold.

    Every task keeps its best ``C`` (value, key) pairs per capped product
    (:class:`~xsell.batch.capacity.CapacityPlan`); the union is ranked per product in
    Spark (value, then key, descending) and the ``C``-th pair is the threshold: the same
    thresholds as the local runner's pass one over the same customers.
    """
    sql = require_pyspark()
    F, Window = sql.functions, sql.Window
    plan = CapacityPlan.for_catalog(limits, agent.catalog)  # checks the limits
    frame, products = _prepared(
        agent, customers, snapshot, partitions=partitions, check_unique=check_unique
    )
    task = _task(agent, replace(run, thresholds=None), products, batch_rows)
    wanted = {p: c for p, c in plan.limits.items() if c > 0}
    value: dict[str, float] = {p: float("inf") for p in plan.limits}
    key: dict[str, int] = dict.fromkeys(plan.limits, 0)
    if wanted:
        cands = frame.mapInArrow(
            partial(_candidate_task, task, wanted), "product STRING, value DOUBLE, key BIGINT"
        )
        rank = F.row_number().over(
            Window.partitionBy("product").orderBy(F.desc("value"), F.desc("key"))
        )
        caps = F.create_map(*[x for p, c in wanted.items() for x in (F.lit(p), F.lit(c))])
        rows = (
            cands.withColumn("rank", rank)
            .filter(F.col("rank") == F.element_at(caps, F.col("product")))
            .select("product", "value", "key")
            .collect()
        )
        found = {str(r["product"]): r for r in rows}
        for p in wanted:
            if p in found:
                signed = np.array([int(found[p]["key"])], dtype=np.int64)
                value[p] = float(found[p]["value"])
                key[p] = int(signed.view(np.uint64)[0] ^ _SIGN)
            else:  # fewer candidates than the capacity: nobody is cut
                value[p], key[p] = float("-inf"), 0
    return CapacityThresholds(dict(plan.limits), value, key)


def score_dataframe(
    agent: Agent,
    customers: DataFrame,
    run: RunContext,
    snapshot: DataFrame | None = None,
    *,
    partitions: int | None = None,
    check_unique: bool = True,
    batch_rows: int = BATCH_ROWS,
) -> DataFrame:
    """Decide for every customer of a Spark DataFrame: the decision log's rows (lazy).

    Parameters
    ----------
    agent
        The fitted agent (one model version); broadcast as bytes.
    customers
        One row per customer, with the columns the agent reads (others are ignored).
    run
        The run's settings; with capacity, ``run.thresholds`` from
        :func:`capacity_thresholds`.
    snapshot
        The run's contact snapshot as a DataFrame of
        :data:`~xsell.batch.snapshot.SNAPSHOT_SCHEMA` rows (e.g.
        ``spark.read.parquet(path)`` of :meth:`ContactSnapshot.write`'s file), taken at
        ``run.at``; ``None``: no contact history.
    partitions
        Repartition the customers (by id) into this many tasks; ``None`` keeps the
        DataFrame's partitioning.
    check_unique
        Refuse duplicated customer ids first (one Spark job; skip it when the input is
        known to be unique).
    batch_rows
        Customers a task decides at a time.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per decision, :func:`log_table_ddl`'s schema; write it to Parquet and
        load it with :func:`~xsell.batch.log_table.load_log_table`.
    """
    if not agent.is_fitted:
        raise InputError("`agent` must be fitted (a registered model version) to score")
    frame, products = _prepared(
        agent, customers, snapshot, partitions=partitions, check_unique=check_unique
    )
    task = _task(agent, run, products, batch_rows)
    scored: DataFrame = frame.mapInArrow(partial(_score_task, task), log_table_ddl())
    return scored
