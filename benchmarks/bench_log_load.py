"""Loading a batch's decisions into PostgreSQL: decisions/s with 1, 2, 4 loading connections.

The decision log's write rate is what limits a large Spark batch (see the README's Spark
section). This generates the decisions of ``--size`` customers (the trained agent and
customers of ``bench_batch.py``, decided with ``score_chunk``) as a folder of Parquet part
files in the layout a Spark job writes (one file per task), then loads the folder into a
fresh PostgreSQL log with ``load_log_table(..., workers=W)`` for each ``W``, and loads it
again (nothing new).

Run: ``.venv/bin/python benchmarks/bench_log_load.py`` → ``benchmarks/results/log_load.json``
(PostgreSQL at 127.0.0.1:5432, user postgres).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import xsell
from _common import command_line, machine_info, result_name, write_result
from bench_batch import AT, _drop_pg, _pg_database, generate, trained_agent


def decisions(customers: Path, agent_path: Path, out: Path, part_rows: int) -> int:
    """The log rows of every customer, one part file per ``part_rows`` customers."""
    from xsell.batch import RunContext, score_chunk
    from xsell.batch.log_table import to_log_table

    agent = xsell.Agent.load(str(agent_path))
    run = RunContext("bench-load", AT)
    out.mkdir()
    rows = 0
    for i, batch in enumerate(pq.ParquetFile(customers).iter_batches(batch_size=part_rows)):
        table = to_log_table(score_chunk(agent, batch.to_pandas(), run).log)
        pq.write_table(table, out / f"part-{i:05d}.parquet")
        rows += table.num_rows
    return rows


def load(out: Path, workers: int) -> dict[str, Any]:
    """Load ``out`` into a fresh log with ``workers`` connections, then again."""
    from xsell.batch.log_table import load_log_table
    from xsell.store import make_engine, migrate

    name = _pg_database()
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        migrate(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        logged = load_log_table(engine, out, workers=workers)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = load_log_table(engine, out, workers=workers)
        again_seconds = time.perf_counter() - t1
        engine.dispose()
    finally:
        _drop_pg(name)
    return {
        "workers": workers,
        "logged": logged,
        "seconds": round(seconds, 1),
        "decisions_per_s": round(logged / seconds),
        "reload_new": again,
        "reload_seconds": round(again_seconds, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500_000)
    parser.add_argument("--part-rows", type=int, default=50_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--output", type=result_name, default="log_load")
    args = parser.parse_args()
    info = machine_info()
    work = Path(tempfile.mkdtemp(prefix="xsell-bench-load-"))
    try:
        agent_path, customers = work / "agent.npz", work / "customers.parquet"
        trained_agent(agent_path)
        generate(customers, args.size)
        out = work / "decisions"
        rows = decisions(customers, agent_path, out, args.part_rows)
        size = sum(f.stat().st_size for f in out.glob("*.parquet"))
        results = []
        for w in [int(x) for x in args.workers.split(",")]:
            res = load(out, w)
            print(res, flush=True)
            results.append(res)
    finally:
        shutil.rmtree(work)
    payload = {
        "benchmark": "log_load",
        "command": command_line(),
        "machine": info,
        "decisions": rows,
        "part_files": -(-args.size // args.part_rows),
        "parquet_mb": round(size / 2**20, 1),
        "note": "PostgreSQL runs on the same machine as the loader",
        "results": results,
    }
    print(write_result(args.output, payload))


if __name__ == "__main__":
    main()
