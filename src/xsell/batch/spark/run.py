"""``xsell score --engine spark``: a customer file scored on Spark, then logged in bulk.

:func:`run_spark` is the local runner's run (:func:`~xsell.batch.runner.run_batch`) with
Spark doing the scoring:

1. the file is checked on the driver, as locally (nothing is decided from a bad file), and
   the run's record is started or resumed (same manifest, same decision time);
2. the contact snapshot is read from the decision log once and written to Parquet in the
   run's work folder, where Spark reads it;
3. with capacities, pass one runs on Spark (:func:`~xsell.batch.spark.capacity_thresholds`)
   and its thresholds are saved in the manifest;
4. the decisions are written by Spark to ``out``, a Parquet folder of part files, one row
   per decision in the decision log's columns (:mod:`xsell.batch.log_table`);
5. the driver loads them into the decision log in chunks with the bulk loader (COPY on
   PostgreSQL; ``options.workers`` files at once, on as many connections), idempotently on
   the decision ids, and marks the run done.

A run stopped anywhere is finished by running it again: Spark's output is complete once
its ``_SUCCESS`` marker is written (a rerun before that scores again, with the same ids),
and the load skips what is logged already.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from xsell._time import as_utc, system_clock
from xsell.batch.capacity import CapacityThresholds
from xsell.batch.log_table import load_log_table
from xsell.batch.reader import CustomerFile, required_columns
from xsell.batch.runner import BatchOptions, BatchResult, _manifest, _snapshot
from xsell.batch.runs import RunRecord
from xsell.batch.scoring import RunContext
from xsell.batch.spark.score import BATCH_ROWS, capacity_thresholds, score_dataframe
from xsell.batch.spark.session import require_pyspark, spark_session
from xsell.batch.workers import usable_cpus
from xsell.control_group import ControlGroup
from xsell.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from sqlalchemy import Engine

    from xsell.agent import Agent

__all__ = ["run_spark"]


def _parquet_source(file: CustomerFile, work: Path) -> Path:
    """The customers as Parquet for Spark: the file itself, or a CSV file converted once
    with the local reader's own types (so both engines read the same values)."""
    if file.format == "parquet":
        return file.path
    path = work / "customers.parquet"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        writer: pq.ParquetWriter | None = None
        try:
            for table in file.tables():
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        tmp.replace(path)
    return path


def _session(spark: SparkSession | None, master: str) -> tuple[SparkSession, bool]:
    """The session to use and whether the run made it (and so stops it): a given or
    already running session is used as it is, and left running."""
    if spark is not None:
        return spark, False
    active = require_pyspark().SparkSession.getActiveSession()
    if active is not None:
        return active, False
    return spark_session(master), True


def _counts(out: Path) -> tuple[int, int]:
    """Offers and control-group customers in the written decisions."""
    table = ds.dataset(str(out), format="parquet").to_table(columns=["product", "traffic_group"])
    offers = table.num_rows - table["product"].null_count
    control = pc.sum(pc.equal(table["traffic_group"], "control").cast("int64")).as_py() or 0
    return int(offers), int(control)


def run_spark(
    agent: Agent,
    customers: str | Path,
    out: str | Path,
    *,
    engine: Engine | None = None,
    options: BatchOptions | None = None,
    master: str = "local[*]",
    spark: SparkSession | None = None,
    batch_rows: int = BATCH_ROWS,
) -> BatchResult:
    """Score a customer file on Spark and log the decisions (see the module doc).

    Parameters
    ----------
    agent
        The serving model version.
    customers
        Parquet file or folder, or CSV file, readable by the driver and the executors.
    out
        Where Spark writes the decisions: a Parquet folder (one row per decision, the
        decision log's columns); the work folder ``<out>.work`` holds the run's manifest
        and contact snapshot until the run is done.
    engine
        The decision log (contacts read, decisions loaded); ``None``: neither.
    options
        As for the local runner (``chunk_size`` only sizes the file check's reads).
    master
        Spark master of the session made (and stopped) when neither ``spark`` is given
        nor a session is running.
    spark
        A session to use (it is left running).
    batch_rows
        Customers a task decides at a time.
    """
    require_pyspark()  # before anything is checked, read or recorded
    opts = options if options is not None else BatchOptions()
    started = time.perf_counter()
    if not agent.is_fitted:
        raise InputError("`agent` must be fitted (a registered model version) to score a file")
    out_path = Path(out)
    if out_path.suffix.lower() == ".csv":
        raise InputError(
            "`--out`: the Spark engine writes a Parquet folder (one file per task); give it a "
            "name without .csv"
        )
    file = CustomerFile(customers, required_columns(agent), opts.chunk_size)
    check = file.check()
    now = system_clock()
    run_id = opts.run_id or f"{Path(customers).stem}-{as_utc(opts.at or now):%Y-%m-%d}"
    log = engine if not opts.dry_run else None
    work = out_path.with_name(out_path.name + ".work")
    record = RunRecord(work, log)
    wanted = _manifest(agent, file, check.rows, check.fingerprint, run_id, opts.at, opts)
    stored = record.stored(run_id)
    if stored is not None:
        stored.check_same(wanted)
        manifest = stored
    else:
        wanted.data["at"] = as_utc(opts.at if opts.at is not None else now).isoformat()
        manifest = wanted
    record.save(manifest, now=as_utc(now).to_pydatetime())
    at = manifest.at
    snapshot = _snapshot(agent, engine, work, at, run_id)
    control = None if manifest.data["control"] is None else ControlGroup(**manifest.data["control"])
    run = RunContext(run_id, at, rules=opts.rules, control=control)
    session, own = _session(spark, master)
    try:
        parallel = session.sparkContext.defaultParallelism
        partitions = max(parallel, math.ceil(check.rows / batch_rows))
        frame = session.read.parquet(str(_parquet_source(file, work)))
        snap = session.read.parquet(str(work / "contacts.parquet")) if len(snapshot) else None
        if manifest.data["capacity"] and manifest.data["thresholds"] is None:
            thresholds = capacity_thresholds(
                agent,
                frame,
                run,
                manifest.data["capacity"],
                snap,
                partitions=partitions,
                check_unique=False,
                batch_rows=batch_rows,
            )
            manifest.data["thresholds"] = thresholds.to_dict()
            record.save(manifest, now=as_utc(now).to_pydatetime())
        if manifest.data["thresholds"] is not None:
            t = CapacityThresholds.from_dict(manifest.data["thresholds"])
            run = RunContext(run_id, at, rules=opts.rules, control=control, thresholds=t)
        resumed = stored is not None and (out_path / "_SUCCESS").exists()
        if not resumed:
            scored = score_dataframe(
                agent,
                frame,
                run,
                snap,
                partitions=partitions,
                check_unique=False,
                batch_rows=batch_rows,
            )
            scored.write.mode("overwrite").parquet(str(out_path))
    finally:
        if own:
            session.stop()
    loaders = opts.workers or usable_cpus()
    logged = 0 if log is None else load_log_table(log, out_path, workers=loaders)
    offers, control_n = _counts(out_path)
    record.finish(
        run_id, rows=check.rows, offers=offers, now=as_utc(system_clock()).to_pydatetime()
    )
    shutil.rmtree(work)
    return BatchResult(
        run_id=run_id,
        at=at,
        rows=check.rows,
        offers=offers,
        control=control_n,
        logged=logged,
        chunks=partitions,
        resumed_chunks=partitions if resumed else 0,
        seconds=time.perf_counter() - started,
        output=out_path,
    )
