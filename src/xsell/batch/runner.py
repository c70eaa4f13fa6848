"""The local batch runner: a customer file in, offers out, every decision logged, resumable.

A run (see :func:`run_batch`):

1. checks the whole file (:class:`~xsell.batch.reader.CustomerFile`): nothing is decided
   or logged from a file with a missing column, a wrong type or a duplicated id;
2. starts or resumes the run's record (:mod:`xsell.batch.runs`): decision time, settings;
3. reads the contact history once into a snapshot saved beside the run
   (:class:`~xsell.batch.snapshot.ContactSnapshot`);
4. with campaign capacities, scores the whole file for the thresholds (pass one);
5. decides chunk by chunk (:func:`~xsell.batch.scoring.score_chunk`); each chunk is logged
   in one transaction (idempotent on the decision ids) and then written as a part file, by
   a writer thread, while the next chunk is decided;
6. joins the parts into the output and marks the run done.

A run killed at any point and started again with the same run id skips the chunks whose
part is written, redoes at most the chunk it was in (its decisions get the same ids, and
the log keeps the first copy), and ends with the output an uninterrupted run writes.
Memory is bounded by the chunk size (plus the contact snapshot and the capacities), not by
the file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Engine

from xsell._time import as_utc, system_clock
from xsell.batch.bulk import load_log_rows
from xsell.batch.capacity import CapacityPlan, CapacityThresholds
from xsell.batch.parts import (
    counts,
    decided_path,
    join_parts,
    part_counts,
    part_path,
    work_dir,
    write_part,
)
from xsell.batch.reader import CustomerFile, required_columns
from xsell.batch.runs import Manifest, RunRecord
from xsell.batch.scoring import RunContext, ScoredChunk, capacity_candidates, score_chunk
from xsell.batch.snapshot import ContactSnapshot
from xsell.batch.workers import ChunkPool, Decided, usable_cpus
from xsell.control_group import ControlGroup
from xsell.errors import InputError
from xsell.store.rules import RewardRules

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["BatchOptions", "BatchResult", "run_batch"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch.

    Parameters
    ----------
    run_id
        The run's id (default: ``<file stem>-<decision date>``: one run per file per day).
    at
        Decision time of a new run (default: now); a resumed run keeps its own.
    chunk_size
        Customers decided (and logged) at a time.
    control_share, control_salt
        The control group (held out, no offer; see :mod:`xsell.control_group`).
    capacity
        At most this many offers per product in the run (two passes, see
        :mod:`xsell.batch.capacity`).
    dry_run
        Decide and write the output, log nothing (contacts are still read).
    rules
        Reward rules of the log (contact windows; batch sends are contacts).
    workers
        Processes deciding chunks in parallel (default: the CPUs this process may use;
        1: in this process). Every chunk's decisions are the same whatever the number.
        On Spark (:func:`~xsell.batch.spark.run_spark`), where the executors decide, the
        connections loading Spark's decisions into a PostgreSQL log at once (same default).
    """

    run_id: str | None = None
    at: object = None
    chunk_size: int = 100_000
    control_share: float = 0.0
    control_salt: str = "xsell"
    capacity: Mapping[str, int] = field(default_factory=dict)
    dry_run: bool = False
    rules: RewardRules = field(default_factory=RewardRules)
    workers: int | None = None

    def __post_init__(self) -> None:
        w = self.workers
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or w < 1):
            raise InputError(f"`workers` must be an integer >= 1 (or None), got {w!r}")


@dataclass(frozen=True)
class BatchResult:
    """What a run did."""

    run_id: str
    at: pd.Timestamp
    rows: int
    offers: int
    control: int
    logged: int
    chunks: int
    resumed_chunks: int
    seconds: float
    output: Path | None
    workers: int = 1


def _manifest(
    agent: Agent,
    file: CustomerFile,
    check_rows: int,
    fp: str,
    run_id: str,
    at: object,
    opts: BatchOptions,
) -> Manifest:
    return Manifest(
        {
            "run_id": run_id,
            "at": None if at is None else as_utc(at).isoformat(),
            "chunk_size": file.chunk_size,
            "control": (
                None
                if opts.control_share == 0
                else {"share": float(opts.control_share), "salt": opts.control_salt}
            ),
            "capacity": {str(k): int(v) for k, v in sorted(opts.capacity.items())},
            "thresholds": None,
            "model_version": agent.model_version,
            "policy_version": agent.policy_version,
            "seed": agent.seed,
            "input": {"rows": check_rows, "fingerprint": fp},
            "mode": "batch",
        }
    )


def run_batch(
    agent: Agent,
    customers: str | Path,
    out: str | Path | None,
    *,
    engine: Engine | None = None,
    options: BatchOptions | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Score a customer file with ``agent`` (see the module doc).

    Parameters
    ----------
    agent
        The serving model version (its policy, guardrails and seed decide).
    customers
        Parquet or CSV file.
    out
        Output file (``.csv`` for CSV, else Parquet); ``None`` writes nothing (a
        benchmark's decide-only run: then nothing is resumable).
    engine
        The decision log: contacts are read from it, decisions logged to it (unless
        ``dry_run``). ``None``: no contact history, nothing logged.
    options
        See :class:`BatchOptions`.
    progress
        Called as ``progress(rows_done, rows_total, phase)``.
    """
    opts = options if options is not None else BatchOptions()
    started = time.perf_counter()
    if not agent.is_fitted:
        raise InputError("`agent` must be fitted (a registered model version) to score a file")
    file = CustomerFile(customers, required_columns(agent), opts.chunk_size)
    check = file.check()
    now = system_clock()
    run_id = opts.run_id or f"{Path(customers).stem}-{as_utc(opts.at or now):%Y-%m-%d}"
    out_path = None if out is None else Path(out)
    log = engine if not opts.dry_run else None
    work = work_dir(out_path) if out_path is not None else None
    record = RunRecord(work, log) if work is not None else None
    wanted = _manifest(agent, file, check.rows, check.fingerprint, run_id, opts.at, opts)
    stored = record.stored(run_id) if record is not None else None
    if stored is not None:
        stored.check_same(wanted)
        manifest = stored
    else:
        wanted.data["at"] = as_utc(opts.at if opts.at is not None else now).isoformat()
        manifest = wanted
    at = manifest.at
    if record is not None:
        record.save(manifest, now=as_utc(now).to_pydatetime())
    snapshot = _snapshot(agent, engine, work, at, run_id)
    control = None if manifest.data["control"] is None else ControlGroup(**manifest.data["control"])
    run = RunContext(run_id, at, rules=opts.rules, control=control)
    total_chunks = -(-check.rows // file.chunk_size)
    done = 0
    while work is not None and done < total_chunks and part_path(work, done).exists():
        done += 1
    pass_one = bool(manifest.data["capacity"]) and manifest.data["thresholds"] is None
    workers = min(opts.workers or usable_cpus(), total_chunks if pass_one else total_chunks - done)
    pool = (
        ChunkPool(
            workers,
            agent,
            snapshot,
            work=work,
            with_log=log is not None,
            chunk_size=file.chunk_size,
        )
        if workers > 1
        else None
    )
    try:
        if manifest.data["capacity"]:
            if pass_one:
                limits = manifest.data["capacity"]
                thresholds = _pass_one(agent, file, run, snapshot, limits, progress, pool)
                manifest.data["thresholds"] = thresholds.to_dict()
                if record is not None:
                    record.save(manifest, now=as_utc(now).to_pydatetime())
            run = RunContext(
                run_id,
                at,
                rules=opts.rules,
                control=control,
                thresholds=CapacityThresholds.from_dict(manifest.data["thresholds"]),
            )
        tally = _Tally(check.rows, progress, rows=min(done * file.chunk_size, check.rows))
        for i in range(done):  # parts of an earlier attempt
            assert work is not None
            tally.count(0, *part_counts(part_path(work, i)))
        tally.count(0, 0, 0)
        # one writer thread logs chunk i and publishes its part while the next chunks are
        # decided (the database and the disk work off the GIL); it takes chunks in order,
        # one at a time, so parts still appear in order and memory stays bounded
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xsell-batch-writer") as writer:
            if pool is None:
                for i, frame in file.chunks(start=done):
                    scored = score_chunk(agent, frame, run, snapshot, with_log=log is not None)
                    tally.store(writer, _store, log, work, i, scored)
                    tally.count(len(frame), *counts(scored.decisions))
            else:
                _decide_in(pool, file, done, run, tally, writer, log, work)
            tally.wait()
    finally:
        if pool is not None:
            pool.close()
    parts = [] if work is None else [part_path(work, i) for i in range(total_chunks)]
    if out_path is not None and work is not None:
        join_parts(parts, out_path)
        if record is not None:
            record.finish(
                run_id,
                rows=check.rows,
                offers=tally.offers,
                now=as_utc(system_clock()).to_pydatetime(),
            )
        shutil.rmtree(work)
    return BatchResult(
        run_id=run_id,
        at=at,
        rows=check.rows,
        offers=tally.offers,
        control=tally.control,
        logged=tally.logged,
        chunks=total_chunks,
        resumed_chunks=done,
        seconds=time.perf_counter() - started,
        output=out_path,
        workers=max(1, workers),
    )


@dataclass
class _Tally:
    """What the decided chunks add up to, the store in flight, and the progress shown."""

    total: int
    progress: Progress | None
    rows: int = 0
    offers: int = 0
    control: int = 0
    logged: int = 0
    pending: Future[int] | None = None

    def count(self, rows: int, offers: int, control: int) -> None:
        """Add a chunk's counts and show the progress."""
        self.rows, self.offers, self.control = (
            self.rows + rows,
            self.offers + offers,
            self.control + control,
        )
        if self.progress is not None:
            self.progress(self.rows, self.total, "decide")

    def store(self, writer: ThreadPoolExecutor, fn: Callable[..., int], *args: object) -> None:
        """Hand a chunk to the writer once the previous one is stored."""
        self.wait()
        self.pending = writer.submit(fn, *args)

    def wait(self) -> None:
        """Wait for the store in flight."""
        if self.pending is not None:
            self.logged += self.pending.result()
            self.pending = None


def _decide_in(
    pool: ChunkPool,
    file: CustomerFile,
    start: int,
    run: RunContext,
    tally: _Tally,
    writer: ThreadPoolExecutor,
    log: Engine | None,
    work: Path | None,
) -> None:
    """Decide the chunks from ``start`` on in the pool's workers; store them in order.

    A chunk more than the workers is in flight, so none waits for the next one to be read.
    """
    window: deque[Future[Decided]] = deque()

    def next_done() -> None:
        decided = window.popleft().result()
        tally.store(writer, _publish, log, work, decided)
        tally.count(decided.rows, decided.offers, decided.control)

    for i, table in file.numbered_tables(start=start):
        window.append(pool.decide(i, table, run))
        if len(window) > pool.workers:
            next_done()
    while window:
        next_done()


def _store(log: Engine | None, work: Path | None, i: int, scored: ScoredChunk) -> int:
    """Log a chunk (one transaction), then write its part; the decisions newly logged."""
    logged = 0 if log is None else load_log_rows(log, scored.log)
    if work is not None:
        write_part(part_path(work, i), scored.decisions)
    return logged


def _publish(log: Engine | None, work: Path | None, decided: Decided) -> int:
    """Log a chunk a worker decided (one transaction), then publish the part it wrote."""
    logged = 0 if log is None else load_log_rows(log, decided.log)
    if work is not None:
        os.replace(decided_path(work, decided.index), part_path(work, decided.index))
    return logged


def _snapshot(
    agent: Agent, engine: Engine | None, work: Path | None, at: pd.Timestamp, run_id: str
) -> ContactSnapshot:
    """The run's contact snapshot: the saved one, else read from the log (and saved)."""
    path = None if work is None else work / "contacts.parquet"
    if path is not None and path.exists():
        return ContactSnapshot.read(path)
    if engine is None:
        snap = ContactSnapshot.empty(at)
    else:
        snap = ContactSnapshot.from_log(engine, agent.catalog, at, exclude_run=run_id)
    if path is not None:
        snap.write(path)
    return snap


def _pass_one(
    agent: Agent,
    file: CustomerFile,
    run: RunContext,
    snapshot: ContactSnapshot,
    limits: Mapping[str, int],
    progress: Progress | None,
    pool: ChunkPool | None,
) -> CapacityThresholds:
    """Campaign capacity, pass one: every chunk's best candidates, merged (in order; the
    merged plan does not depend on the order)."""
    plan = CapacityPlan.for_catalog(limits, agent.catalog)
    rows = 0

    def merge(chunk_plan: CapacityPlan, n: int) -> None:
        nonlocal rows
        plan.merge(chunk_plan)
        rows += n
        if progress is not None:
            progress(rows, -1, "capacity")

    if pool is None:
        for _, frame in file.chunks():
            merge(capacity_candidates(agent, frame, run, limits, snapshot), len(frame))
        return plan.thresholds()
    window: deque[tuple[Future[CapacityPlan], int]] = deque()
    for _, table in file.numbered_tables():
        window.append((pool.candidates(table, run, limits), table.num_rows))
        if len(window) > pool.workers:
            future, n = window.popleft()
            merge(future.result(), n)
    while window:
        future, n = window.popleft()
        merge(future.result(), n)
    return plan.thresholds()
