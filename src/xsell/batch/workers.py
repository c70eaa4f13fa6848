"""Worker processes that decide a local run's chunks, one core each.

The parent reads the customer file as a one-process run does and hands each chunk to a
worker as an Arrow IPC stream (the chunk's own bytes, not a pickled DataFrame). The worker
decides it with :func:`~xsell.batch.scoring.score_chunk`, writes its decisions beside the
run's parts (:func:`~xsell.batch.parts.decided_path`) when the run keeps them, and returns
the chunk's counts and decision-log rows; the parent logs them and publishes the part, in
chunk order. Chunks, code and arithmetic are the one-process run's (scoring runs BLAS on
one thread in both), so the decisions are bit-identical to it, and so are the log, the
parts and what a rerun resumes.

On Linux the workers are forked: they start in milliseconds and share the agent and the
contact snapshot with the parent, which need not be sent at all. Elsewhere they are
spawned, and each is sent them once. A worker whose parent is gone (a killed run) exits.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pyarrow as pa

from xsell.batch.capacity import CapacityPlan
from xsell.batch.log_rows import LogRows
from xsell.batch.parts import counts, decided_path, write_part
from xsell.batch.reader import chunk_frame
from xsell.batch.scoring import RunContext, capacity_candidates, score_chunk
from xsell.batch.snapshot import ContactSnapshot
from xsell.errors import InputError
from xsell.policies.thompson import integration_threads

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["ChunkPool", "Decided", "usable_cpus"]

_PARENT_POLL_S = 0.5


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Decided:
    """A chunk a worker decided: its counts and its decision-log rows (empty when the run
    logs nothing); its decisions are at ``decided_path(work, index)`` when the run keeps
    them."""

    index: int
    rows: int
    offers: int
    control: int
    log: LogRows


@dataclass(frozen=True)
class _Job:
    """What every chunk of a run shares in a worker (set once, when it starts)."""

    agent: Agent
    snapshot: ContactSnapshot
    work: Path | None
    with_log: bool
    chunk_size: int


_job: _Job | None = None


def _start(job: _Job, parent: int) -> None:
    global _job
    _job = job
    integration_threads(1)  # the other cores are the other workers'
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Exit once the parent is gone: a killed run leaves no worker deciding for nobody."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def _the_job() -> _Job:
    if _job is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("not a batch worker process")
    return _job


def _table(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def _decide(index: int, payload: bytes, run: RunContext) -> Decided:
    job = _the_job()
    frame = chunk_frame(_table(payload), index * job.chunk_size)
    scored = score_chunk(job.agent, frame, run, job.snapshot, with_log=job.with_log)
    if job.work is not None:
        write_part(decided_path(job.work, index), scored.decisions)
    offers, control = counts(scored.decisions)
    return Decided(index, len(frame), offers, control, scored.log)


def _candidates(payload: bytes, run: RunContext, limits: Mapping[str, int]) -> CapacityPlan:
    job = _the_job()
    frame = chunk_frame(_table(payload), 0)
    return capacity_candidates(job.agent, frame, run, limits, job.snapshot)


def _ipc(table: pa.Table) -> bytes:
    """A chunk as an Arrow IPC stream: only its own rows' bytes (pickling a sliced table
    would send the whole table it was sliced from)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


class ChunkPool:
    """``workers`` processes deciding a run's chunks (see the module doc).

    Parameters
    ----------
    workers
        Number of processes (>= 1).
    agent, snapshot
        The run's agent and contact snapshot (shared with forked workers, else sent once
        to each).
    work
        The run's work folder, where decided chunks are written; ``None``: not written.
    with_log
        Whether workers build the decision-log rows.
    chunk_size
        The run's chunk size (a chunk's first row is ``index * chunk_size``).
    """

    def __init__(
        self,
        workers: int,
        agent: Agent,
        snapshot: ContactSnapshot,
        *,
        work: Path | None,
        with_log: bool,
        chunk_size: int,
    ) -> None:
        if workers < 1:
            raise InputError(f"`workers` must be >= 1, got {workers}")
        self.workers = int(workers)
        fork = sys.platform == "linux"
        context = multiprocessing.get_context("fork" if fork else "spawn")
        job = _Job(agent, snapshot, work, with_log, int(chunk_size))
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start, initargs=(job, os.getpid())
        )
        # Start the workers now, before the caller starts threads of its own. Forked, they
        # never collect what the parent had allocated (its database connections and open
        # files stay the parent's), and they run only xsell's code: Python 3.12's warning
        # about forking a process with threads (BLAS's, a progress bar's) does not apply.
        gc.freeze()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", "This process .* is multi-threaded", DeprecationWarning
                )
                self._pool.submit(int).result()
        except BaseException:
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            gc.unfreeze()

    def decide(self, index: int, table: pa.Table, run: RunContext) -> Future[Decided]:
        """Decide chunk ``index`` (its customers ``table``) of ``run``."""
        return self._pool.submit(_decide, index, _ipc(table), run)

    def candidates(
        self, table: pa.Table, run: RunContext, limits: Mapping[str, int]
    ) -> Future[CapacityPlan]:
        """Campaign capacity's pass one on one chunk (see
        :func:`~xsell.batch.scoring.capacity_candidates`)."""
        return self._pool.submit(_candidates, _ipc(table), run, dict(limits))

    def close(self) -> None:
        """Stop the workers (chunks not started are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
