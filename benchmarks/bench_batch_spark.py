"""Batch scoring on Spark (local mode): customers/s, peak memory, and the decision log's load.

The same customers (1,000,000 sample-bank customers × 8 products, Parquet) and the same
trained agent as ``bench_batch.py``. Each case runs in its own process; peak memory is the
largest sum of the resident memory of that process and all its children (the Spark JVM and
its Python workers), sampled every 0.2 s.

* ``spark`` (per master, e.g. ``local[1]``, ``local[2]``): a fresh session, then the
  decisions of every customer written by Spark to Parquet (``score_dataframe`` with the
  agent broadcast, one row per decision in the log's columns). ``score_seconds`` excludes
  the session's start; ``contacted`` of the customers have a contact snapshot row,
  joined on the customer id as in a real run. ``cpu_seconds`` is the CPU time of the
  whole process tree (JVM and Python workers) while scoring: on a shared machine,
  customers per CPU second is the per-core rate that carries over to dedicated cores;
* ``local``: the reference, the same decisions and log rows in one process without
  Spark (on a busy machine, the ratio of the two rates is what carries over);
* ``load-postgres``: the decisions Spark wrote, loaded into a fresh PostgreSQL log on the
  driver (``load_log_table``: COPY, idempotent on the ids): the log's write rate.

Run: ``.venv/bin/python benchmarks/bench_batch_spark.py`` →
``benchmarks/results/batch_spark.json``. Needs the ``spark`` extra and Java 17+;
PostgreSQL at 127.0.0.1:5432 (user postgres).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _common import command_line, machine_info, result_name, write_result
from bench_batch import AT, _drop_pg, _pg_database, generate, trained_agent

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as fh:
                pages = int(fh.read().split()[1])
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = pages * _PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and every process below it,
    including the children they have reaped (the Spark JVM and its Python workers)."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        ticks += cpu.get(pid, 0)
        todo.extend(children.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


class PeakMemory:
    """Samples the process tree's resident memory in a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.2) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            self._stop.wait(interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _snapshot(customers: Path, share: float, path: Path) -> int:
    """A contact snapshot of ``share`` of the customers (one recent contact each)."""
    import pyarrow.parquet as pq

    import xsell
    from xsell.batch import ContactSnapshot

    ids = pq.read_table(customers, columns=["customer_id"])["customer_id"].to_numpy()
    rng = np.random.default_rng(5)
    picked = ids[rng.random(len(ids)) < share]
    catalog = xsell.Catalog.sample()
    pids = np.array(catalog.product_ids)
    at = pd.Timestamp(AT)
    contacts = pd.DataFrame(
        {
            "customer_id": picked,
            "product_id": pids[rng.integers(0, len(pids), len(picked))],
            "at": at - pd.to_timedelta(rng.uniform(0, 60, len(picked)), unit="D"),
        }
    )
    snap = ContactSnapshot.from_contacts(contacts, catalog, at)
    snap.write(path)
    return len(snap)


def run_spark_case(
    master: str, customers: Path, agent_path: Path, snapshot: Path, out: Path, batch_rows: int
) -> dict[str, Any]:
    """Decide every customer on Spark, write the decisions to Parquet."""
    import math

    import pyarrow.dataset as ds

    import xsell
    from xsell.batch import RunContext
    from xsell.batch.spark import score_dataframe, spark_session

    agent = xsell.Agent.load(str(agent_path))
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        spark = spark_session(
            master, driver_memory="2g", config={"spark.ui.showConsoleProgress": "false"}
        )
        spark.sparkContext.setLogLevel("ERROR")
        started = time.perf_counter() - t0
        t1, cpu1 = time.perf_counter(), tree_cpu_seconds(os.getpid())
        frame = spark.read.parquet(str(customers))
        rows = frame.count()
        cores = spark.sparkContext.defaultParallelism
        partitions = max(cores, math.ceil(rows / batch_rows))
        scored = score_dataframe(
            agent,
            frame,
            RunContext("bench-spark", AT),
            spark.read.parquet(str(snapshot)),
            partitions=partitions,
            check_unique=False,
            batch_rows=batch_rows,
        )
        scored.write.mode("overwrite").parquet(str(out))
        score_seconds = time.perf_counter() - t1
        cpu_seconds = tree_cpu_seconds(os.getpid()) - cpu1
        spark.stop()
    table = ds.dataset(str(out)).to_table(columns=["product"])
    size = sum(f.stat().st_size for f in out.glob("*.parquet"))
    return {
        "case": "spark",
        "master": master,
        "cores": cores,
        "partitions": partitions,
        "rows": table.num_rows,
        "offers": table.num_rows - table["product"].null_count,
        "session_start_seconds": round(started, 1),
        "score_seconds": round(score_seconds, 1),
        "customers_per_s": round(table.num_rows / score_seconds),
        "customers_per_s_per_core": round(table.num_rows / score_seconds / cores),
        "cpu_seconds": round(cpu_seconds, 1),
        "customers_per_cpu_second": round(table.num_rows / cpu_seconds),
        "output_mb": round(size / 2**20, 1),
        "peak_rss_mb_process_tree": round(mem.peak / 2**20),
    }


def run_local_case(
    customers: Path, agent_path: Path, snapshot: Path, batch_rows: int
) -> dict[str, Any]:
    """The reference: the same work in one process, no Spark (chunks of ``batch_rows``:
    read, decide with the snapshot, build the log table), nothing written."""
    import pyarrow.parquet as pq

    import xsell
    from xsell.batch import ContactSnapshot, RunContext, score_chunk
    from xsell.batch.log_table import to_log_table

    agent = xsell.Agent.load(str(agent_path))
    with PeakMemory() as mem:
        t0, cpu0 = time.perf_counter(), time.process_time()
        snap = ContactSnapshot.read(snapshot)
        run = RunContext("bench-spark", AT)
        rows = offers = 0
        for batch in pq.ParquetFile(customers).iter_batches(batch_size=batch_rows):
            table = to_log_table(score_chunk(agent, batch.to_pandas(), run, snap).log)
            rows += table.num_rows
            offers += table.num_rows - table["product"].null_count
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - cpu0
    return {
        "case": "local",
        "rows": rows,
        "offers": offers,
        "seconds": round(seconds, 1),
        "customers_per_s": round(rows / seconds),
        "cpu_seconds": round(cpu_seconds, 1),
        "customers_per_cpu_second": round(rows / cpu_seconds),
        "peak_rss_mb_process_tree": round(mem.peak / 2**20),
    }


def run_load_case(out: Path, batch_rows: int) -> dict[str, Any]:
    """Load Spark's decisions into a fresh PostgreSQL log."""
    from xsell.batch.log_table import load_log_table
    from xsell.store import make_engine, migrate

    name = _pg_database()
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        migrate(url)
        engine = make_engine(url)
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            logged = load_log_table(engine, out, batch_rows=batch_rows)
            seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            again = load_log_table(engine, out, batch_rows=batch_rows)
            again_seconds = time.perf_counter() - t1
        engine.dispose()
    finally:
        _drop_pg(name)
    return {
        "case": "load-postgres",
        "logged": logged,
        "seconds": round(seconds, 1),
        "decisions_per_s": round(logged / seconds),
        "reload_new": again,
        "reload_seconds": round(again_seconds, 1),
        "peak_rss_mb_process_tree": round(mem.peak / 2**20),
    }


def _child(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ)
    if done.returncode != 0:
        raise SystemExit(f"{args[:2]} failed:\n{done.stderr[-4000:]}")
    res: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    res["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res), flush=True)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--masters", default="local[2]")
    parser.add_argument("--contacted", type=float, default=0.2)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--no-load", action="store_true", help="skip the PostgreSQL load")
    parser.add_argument("--output", type=result_name, default="batch_spark")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--master", help=argparse.SUPPRESS)
    parser.add_argument("--customers", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "spark":
        res = run_spark_case(
            args.master,
            Path(args.customers),
            Path(args.agent),
            Path(args.snapshot),
            Path(args.out),
            args.batch_rows,
        )
        print(json.dumps(res))
        return
    if args.case == "local":
        res = run_local_case(
            Path(args.customers), Path(args.agent), Path(args.snapshot), args.batch_rows
        )
        print(json.dumps(res))
        return
    if args.case == "load-postgres":
        print(json.dumps(run_load_case(Path(args.out), 100_000)))
        return
    info = machine_info()
    work = Path(tempfile.mkdtemp(prefix="xsell-bench-spark-"))
    agent_path, customers = work / "agent.npz", work / "customers.parquet"
    trained_agent(agent_path)
    generation = round(generate(customers, args.size), 1)
    snapshot_rows = _snapshot(customers, args.contacted, work / "contacts.parquet")
    results = []
    out = work / "decisions"
    for master in args.masters.split(","):
        out = work / f"decisions-{uuid.uuid4().hex[:6]}"
        results.append(
            _child(
                [
                    "--case",
                    "spark",
                    "--master",
                    master,
                    "--customers",
                    str(customers),
                    "--agent",
                    str(agent_path),
                    "--snapshot",
                    str(work / "contacts.parquet"),
                    "--out",
                    str(out),
                    "--batch-rows",
                    str(args.batch_rows),
                ]
            )
        )
    files = ["--customers", str(customers), "--agent", str(agent_path)]
    snap = ["--snapshot", str(work / "contacts.parquet"), "--batch-rows", str(args.batch_rows)]
    results.append(_child(["--case", "local", *files, *snap]))
    if not args.no_load:
        results.append(_child(["--case", "load-postgres", "--out", str(out)]))
    payload = {
        "benchmark": "batch_spark",
        "command": command_line(),
        "machine": info,
        "size": args.size,
        "contact_snapshot_rows": snapshot_rows,
        "batch_rows": args.batch_rows,
        "policy": "default (Thompson sampling), trained past its warm-up",
        "generation_seconds": generation,
        "results": results,
    }
    print(write_result(args.output, payload))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
