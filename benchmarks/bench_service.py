"""Load on the HTTP decision service: a real server on loopback, a real load generator.

For each backend, the benchmark starts ``xsell serve`` (its own process, uvicorn) on a fresh
database: a new SQLite file (``--sqlite-workers``, default 1 worker) and a new PostgreSQL
database (``--pg-workers``, default 2 workers), waits for ``/healthz`` (polled, with a
deadline), warms it up, then measures ``--repeats`` times

* the **closed loop** with ``wrk`` (Debian package ``wrk``): ``--connections`` (16)
  connections, each sending the next ``POST /v1/decisions`` as soon as the last one is
  answered, for ``--closed-seconds``: the most the service can do at that concurrency;
* the **open loop** at a fixed ``--rate`` (400 requests/s) with at most ``--connections``
  (16) requests in flight, for ``--open-seconds``, driven by the asyncio generator below
  (``wrk`` is closed-loop and ``wrk2`` is not packaged). Request *i* is due at
  ``t0 + i / rate`` whatever happened before; its latency runs from that due time to the
  last byte of the answer, so a request that waited for a free connection (all 16 busy)
  counts its wait (no coordinated omission). Such requests are also counted as ``late``.

Every request decides for one customer (a sample-bank customer with a fresh customer id,
so contact rules and decision ids are never repeated) and is authenticated with an API
key; the service commits the decisions before it answers. After the runs the benchmark
counts the decisions in the log: there must be at least one per answered request.

Reported per run: requests, achieved rate, latency p50/p90/p99/max (ms), errors (non-2xx,
connection errors, timeouts), late requests, and the load average before and after (other
work on this 2-core machine skews everything). Results go to
``benchmarks/results/<--output>.json`` (default ``service.json``).

Usage::

    .venv/bin/python benchmarks/bench_service.py                    # ~4 minutes
    .venv/bin/python benchmarks/bench_service.py --backends postgresql --repeats 3
    .venv/bin/python benchmarks/bench_service.py --closed-seconds 5 --open-seconds 5 \
        --repeats 1 --output service_quick
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import REPO_DIR, command_line, machine_info, result_name, write_result
from _load import WRK_INSTALL, body_templates, closed_loop, open_loop, wrk_script
from _server import CpuMeter, decisions_in_log, fresh_database, serve

#: the acceptance target (PostgreSQL, open loop)
TARGET = {"backend": "postgresql", "rate": 400.0, "p99_ms": 25.0, "errors": 0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    p.add_argument("--sqlite-workers", type=int, default=1, help="server workers on SQLite")
    p.add_argument("--pg-workers", type=int, default=2, help="server workers on PostgreSQL")
    p.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="where a fresh PostgreSQL database is created (and dropped afterwards)",
    )
    p.add_argument("--rate", type=float, default=400.0, help="open loop: requests per second")
    p.add_argument("--connections", type=int, default=16, help="most requests in flight")
    p.add_argument("--closed-seconds", type=float, default=15.0)
    p.add_argument("--open-seconds", type=float, default=20.0)
    p.add_argument("--warmup-seconds", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=2, help="closed + open runs per backend")
    p.add_argument("--timeout", type=float, default=5.0, help="a request slower is an error")
    p.add_argument("--profiles", type=int, default=500, help="distinct customer profiles")
    p.add_argument("--start-deadline", type=float, default=120.0, help="seconds to get healthy")
    p.add_argument("--output", type=result_name, default="service")
    return p.parse_args(argv)


# -- the benchmark -------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    workers = args.sqlite_workers if backend == "sqlite" else args.pg_workers
    templates = body_templates(args.profiles)
    runs = []
    with (
        fresh_database(backend, args.pg_admin_url, workdir) as url,
        serve(url, workers, workdir, args.start_deadline) as server,
    ):
        script = wrk_script(templates, server.key, workdir / "post_decision.lua")
        print(f"[{backend}] {workers} worker(s) on port {server.port}; warming up", flush=True)
        warm = closed_loop(server, script, args.warmup_seconds, args.connections, "warm")
        answered = warm["ok"]
        meter = CpuMeter(server.process.pid, None if backend == "sqlite" else url.rsplit("/", 1)[1])
        for r in range(args.repeats):
            before = meter.read()
            closed = closed_loop(
                server, script, args.closed_seconds, args.connections, f"closed{r}"
            )
            closed["cpu_ms_per_request"] = meter.per_request(before, meter.read(), closed["ok"])
            print(f"[{backend}] closed loop {r + 1}: {_line(closed)}", flush=True)
            before = meter.read()
            opened = open_loop(server, templates, args, f"open{r}")
            opened["cpu_ms_per_request"] = meter.per_request(before, meter.read(), opened["ok"])
            print(f"[{backend}] open loop {r + 1}: {_line(opened)}", flush=True)
            answered += closed["ok"] + opened["ok"]
            runs.append({"closed_loop": closed, "open_loop": opened})
        stored = decisions_in_log(url)
    return {
        "backend": backend,
        "workers": workers,
        "runs": runs,
        "answered_2xx": answered,
        "decisions_in_log": stored,
        # one decision per one-customer request (top_n 1): every answer is in the log; a
        # request wrk gave up on at the end of a run may be in it without an answer
        "every_answer_logged": stored >= answered,
    }


def _line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (
        f"{r['rate']:.0f} req/s, p50 {lat.get('p50', float('nan')):.1f} ms, "
        f"p99 {lat.get('p99', float('nan')):.1f} ms, max {lat.get('max', float('nan')):.1f} ms, "
        f"errors {r['errors']}"
        + (f", late {r['late']}" if "late" in r else "")
        + f", load {r['load_average_after'][0]}"
    )


def _target(results: list[dict[str, Any]]) -> dict[str, Any]:
    runs = [
        run["open_loop"]
        for res in results
        if res["backend"] == TARGET["backend"]
        for run in res["runs"]
    ]
    met = [
        r["latency_ms"].get("p99", float("inf")) < TARGET["p99_ms"]
        and r["errors"] == TARGET["errors"]
        and r["rate"] >= 0.98 * TARGET["rate"]
        for r in runs
    ]
    return {**TARGET, "runs_meeting_it": sum(met), "runs": len(met)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(f"wrk is not installed; install it with:\n    {WRK_INSTALL}", file=sys.stderr)
        return 2
    machine = machine_info()
    results = []
    with tempfile.TemporaryDirectory(prefix="xsell-bench-") as tmp:
        for backend in args.backends:
            results.append(run_backend(backend, args, Path(tmp)))
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    payload = {
        "benchmark": "service",
        "command": command_line(),
        "machine": machine,
        "settings": {
            "rate": args.rate,
            "connections": args.connections,
            "closed_seconds": args.closed_seconds,
            "open_seconds": args.open_seconds,
            "warmup_seconds": args.warmup_seconds,
            "repeats": args.repeats,
            "timeout_s": args.timeout,
            "request": "POST /v1/decisions, one customer, fresh customer id, API key",
            "server": "xsell serve --no-access-log (uvicorn, uvloop, httptools)",
            "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0:1],
        },
        "results": results,
        "target": _target(results),
    }
    path = write_result(args.output, payload)
    print(f"wrote {path.relative_to(REPO_DIR)}; target: {payload['target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
