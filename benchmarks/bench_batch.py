"""Batch scoring at scale: customers/s and peak memory of ``xsell score``'s local engine.

Generates 1,000,000 (and 5,000,000) sample-bank customers × 8 products to Parquet, trains
an agent past the default policy's warm-up (so Thompson sampling explores: the steady
state, not day one), then runs each case in its own process and reads that process's peak
resident memory (``ru_maxrss``; its workers' largest is ``worker_peak_rss_mb``) and CPU
time (its own and its workers'):

* ``decide``: the local engine's run (``run_batch``) that only decides: check the file,
  decide every chunk in ``--workers`` processes (default: the usable CPUs), write and log
  nothing (``decide-sequential``: the same in one process; ``decide-epsilon``: with
  epsilon-greedy instead of Thompson sampling);
* ``parquet``: the full local run writing the offers to Parquet, logging nothing (dry run);
* ``sqlite`` / ``postgres``: the full run, every decision logged (SQLite ``executemany``,
  PostgreSQL ``COPY``) into a fresh, migrated log.

Run: ``.venv/bin/python benchmarks/bench_batch.py`` (about 10 minutes) →
``benchmarks/results/batch.json``. PostgreSQL must run at 127.0.0.1:5432 (user postgres).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import xsell
from _common import command_line, machine_info, result_name, write_result

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
AT = "2026-01-05T02:00:00Z"
GEN_CHUNK = 250_000


def generate(path: Path, n: int) -> float:
    """``n`` customers with unique ids to one Parquet file; seconds taken."""
    t0 = time.perf_counter()
    writer = None
    for start in range(0, n, GEN_CHUNK):
        frame = xsell.make_customers(min(GEN_CHUNK, n - start), seed=start + 1, start=start)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return time.perf_counter() - t0


def trained_agent(path: Path) -> None:
    """An agent past the warm-up of the default policy (it explores), saved to ``path``."""
    agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=7)
    ref = xsell.make_customers(20_000, seed=99, start=50_000_000)
    agent.fit_features(ref)
    decided = agent.act(ref, at="2025-12-01T09:00:00Z", mode="batch")
    offered = decided[decided["product"].notna()]
    rng = np.random.default_rng(0)
    agent.update(offered.assign(conversion=(rng.random(len(offered)) < 0.08).astype(int)))
    agent.save(str(path))


def _pg_database() -> str:
    import psycopg

    name = f"xsell_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu() -> float:
    """CPU seconds of this process and of its ended children (the run's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_case(
    case: str, customers: Path, agent_path: Path, work: Path, chunk: int, workers: int | None
) -> dict[str, Any]:
    """One case in this process (the parent reads the printed JSON)."""
    from xsell.batch.runner import BatchOptions, run_batch
    from xsell.store import make_engine, migrate

    agent = xsell.Agent.load(str(agent_path))
    cpu0 = _cpu()
    t0 = time.perf_counter()
    rows = offers = logged = 0
    pg_name = None
    if case == "decide-epsilon":  # the same model under epsilon-greedy: the policy's cost
        agent.policy = xsell.EpsilonGreedy()
    if case == "decide-sequential":
        workers = 1
    if case.startswith("decide"):
        result = run_batch(
            agent,
            customers,
            None,  # decide only: nothing written, nothing logged
            options=BatchOptions(run_id="bench", at=AT, chunk_size=chunk, workers=workers),
        )
        rows, offers, used = result.rows, result.offers, result.workers
    else:
        engine = None
        if case == "sqlite":
            url = f"sqlite:///{work / f'log-{uuid.uuid4().hex[:6]}.db'}"
        elif case == "postgres":
            pg_name = _pg_database()
            url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
        if case in ("sqlite", "postgres"):
            migrate(url)
            engine = make_engine(url)
        # the log exists before the run (as in production)
        cpu0, t0 = _cpu(), time.perf_counter()
        out = work / f"offers-{case}-{uuid.uuid4().hex[:6]}.parquet"
        result = run_batch(
            agent,
            customers,
            out,
            engine=engine,
            options=BatchOptions(
                run_id=f"bench-{case}",
                at=AT,
                chunk_size=chunk,
                dry_run=engine is None,
                workers=workers,
            ),
        )
        rows, offers, logged, used = result.rows, result.offers, result.logged, result.workers
        if engine is not None:
            engine.dispose()
        if pg_name is not None:
            _drop_pg(pg_name)
        if case == "sqlite":
            for f in work.glob("log-*.db*"):
                f.unlink()
        out.unlink()
    seconds = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "case": case,
        "workers": used,
        "rows": rows,
        "offers": offers,
        "logged": logged,
        "seconds": round(seconds, 2),
        "customers_per_s": round(rows / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "worker_peak_rss_mb": round(kids.ru_maxrss / 1024, 1) if used > 1 else None,
        # CPU time of the run and its workers (every core counts): comparable when the
        # machine is busy
        "cpu_seconds": round(cpu, 2),
        "customers_per_cpu_s": round(rows / cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument(
        "--cases", default="decide,decide-sequential,decide-epsilon,parquet,sqlite,postgres"
    )
    parser.add_argument("--big-cases", default="decide,parquet", help="cases run at sizes > 1M")
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument(
        "--workers", type=int, default=None, help="processes per run (default: usable CPUs)"
    )
    parser.add_argument("--output", type=result_name, default="batch")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--customers", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # a child: one case, its result as JSON on stdout
        res = run_case(
            args.case,
            Path(args.customers),
            Path(args.agent),
            Path(args.work),
            args.chunk_size,
            args.workers,
        )
        print(json.dumps(res))
        return
    work = Path(tempfile.mkdtemp(prefix="xsell-bench-batch-"))
    agent_path = work / "agent.npz"
    trained_agent(agent_path)
    results: list[dict[str, Any]] = []
    generated = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        path = work / f"customers-{n}.parquet"
        generated[n] = round(generate(path, n), 1)
        # the file's write-back belongs to the generation, not to the first case timed
        os.sync()
        cases = args.cases.split(",") if n <= 1_000_000 else args.big_cases.split(",")
        for case in cases:
            cmd = [
                sys.executable,
                __file__,
                "--case",
                case,
                "--customers",
                str(path),
                "--agent",
                str(agent_path),
                "--work",
                str(work),
                "--chunk-size",
                str(args.chunk_size),
                *([] if args.workers is None else ["--workers", str(args.workers)]),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ)
            if done.returncode != 0:
                raise SystemExit(f"case {case} at {n:,} failed:\n{done.stderr}")
            res = json.loads(done.stdout.strip().splitlines()[-1])
            res["size"] = n
            res["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps(res), flush=True)
            results.append(res)
        path.unlink()
    payload = {
        "benchmark": "batch",
        "command": command_line(),
        "machine": machine_info(),
        "chunk_size": args.chunk_size,
        "workers": args.workers if args.workers is not None else "usable CPUs",
        "policy": "default (Thompson sampling), trained past its warm-up",
        "generation_seconds": generated,
        "results": results,
        "targets": {
            "decide_customers_per_s": 200_000,
            "postgres_1m_seconds": 120,
            "peak_memory": "independent of file size (1M vs 5M)",
        },
    }
    print(write_result(args.output, payload))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
