"""Where the decision service spends its CPU: a sampling profile of a real server under load.

Starts ``xsell serve`` as :mod:`bench_service` does (fresh database, ``--workers``), warms
it up, then drives ``POST /v1/decisions`` with ``wrk`` (closed loop, ``--connections``)
for ``--seconds`` while ``py-spy`` samples every server process, counting only threads that
hold the GIL (Python work; waiting on the database or the network is not counted). The
samples are grouped into the stages of a request, and the server's CPU time per request
(from ``/proc``) is split by those shares.

``py-spy`` is a development tool, not a dependency: ``.venv/bin/pip install py-spy`` (it
needs the right to trace processes, e.g. root or ``CAP_SYS_PTRACE``).

Writes ``benchmarks/results/<--output>.json`` and a readable ``<--output>.txt`` (default
``profile_service``).

Usage::

    .venv/bin/python benchmarks/profile_service.py                       # PostgreSQL, 2 workers
    .venv/bin/python benchmarks/profile_service.py --backend sqlite --workers 1
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import _load as load
import _server as server_
from _common import RESULTS_DIR, command_line, machine_info, result_name, write_result

#: request stages, by the frames that mark them (first match wins, most specific first)
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("decide: read features", ("Featurizer.transform",)),
    ("decide: contact history read", ("DecisionLog.contact_rows",)),
    ("decide: guardrail rules", ("evaluate_guardrails",)),
    ("decide: policy (Thompson sampling)", ("choose (xsell/policies",)),
    ("decide: model prediction", ("Agent._action_values",)),
    ("decide: ids, drivers, decision records", ("Agent._slot", "slot_records", "hash_keys")),
    ("decide: other", ("Agent._act_exact", "Agent.act_records", "Agent.act_together")),
    ("explain", ("Agent.explain_records",)),
    ("record: decision log transaction", ("Batcher._record",)),
    (
        "batching and thread hand-offs",
        ("Batcher.", "_answer", "ThreadPoolExecutor", "run_in_threadpool", "WorkerThread"),
    ),
    ("HTTP: request parsing and validation", ("solve_dependencies",)),
    ("HTTP: response", ("serialize_response", "Response.__call__", "RequestResponseCycle.send")),
    ("HTTP: uvicorn, FastAPI and middleware", ("RequestResponseCycle.run_asgi",)),
    ("model version polling", ("ServiceState.poll",)),
    ("uvicorn supervisor and event loop", ("Runner.run", "Multiprocess", "always_pong")),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--sampling-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--output", type=result_name, default="profile_service")
    return p.parse_args(argv)


def stage_of(stack: str) -> str:
    """The stage a sampled stack belongs to."""
    for name, marks in STAGES:
        if any(m in stack for m in marks):
            return name
    return "other"


def summarize(raw: Path) -> tuple[Counter[str], Counter[str], int]:
    """Samples per stage and the busiest functions (own time), from py-spy's raw output."""
    stages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        n = int(count)
        total += n
        stages[stage_of(stack)] += n
        own[re.sub(r":\d+\)$", ")", stack.split(";")[-1])] += n
    return stages, own, total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print(f"wrk is not installed; install it with:\n    {load.WRK_INSTALL}", file=sys.stderr)
        return 2
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="xsell-profile-") as tmp:
        work = Path(tmp)
        with (
            server_.fresh_database(args.backend, args.pg_admin_url, work) as url,
            server_.serve(url, args.workers, work, 120.0) as server,
        ):
            script = load.wrk_script(load.body_templates(500), server.key, work / "post.lua")
            load.closed_loop(server, script, 4, args.connections, "warm")
            meter = server_.CpuMeter(
                server.process.pid, None if args.backend == "sqlite" else url.rsplit("/", 1)[1]
            )
            raw = work / "stacks.txt"
            sampler = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--subprocesses",
                    "--gil",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--rate",
                    str(args.sampling_rate),
                    "--duration",
                    str(args.seconds),
                    "-o",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            before = meter.read()
            run = load.closed_loop(server, script, args.seconds, args.connections, "profile")
            cpu = meter.per_request(before, meter.read(), run["ok"])
            _, err = sampler.communicate(timeout=args.seconds + 60)
            if not raw.exists():
                print(f"py-spy failed: {err.decode(errors='replace')}", file=sys.stderr)
                return 2
            stages, own, total = summarize(raw)
    server_ms = cpu["server"]
    shares = {k: round(v / total, 4) for k, v in stages.most_common()}
    payload = {
        "benchmark": "profile_service",
        "command": command_line(),
        "machine": machine,
        "backend": args.backend,
        "workers": args.workers,
        "load": {k: run[k] for k in ("rate", "latency_ms", "errors")},
        "cpu_ms_per_request": cpu,
        "samples": total,
        "stage_share_of_server_python_time": shares,
        "stage_ms_per_request": {k: round(v * server_ms, 3) for k, v in shares.items()},
        "busiest_functions": {k: round(v / total, 4) for k, v in own.most_common(25)},
    }
    write_result(args.output, payload)
    lines = [
        f"xsell serve on {args.backend}, {args.workers} worker(s); wrk closed loop, "
        f"{args.connections} connections, {args.seconds} s: {run['rate']} req/s",
        f"CPU per request (ms): {cpu}",
        f"{total} samples of server threads holding the GIL, by stage "
        "(share, and the server's CPU per request split by it):",
        *(f"  {v:6.1%}  {v * server_ms:6.3f} ms  {k}" for k, v in shares.items()),
        "busiest functions (own samples):",
        *(f"  {v / total:6.1%}  {k}" for k, v in own.most_common(25)),
    ]
    (RESULTS_DIR / f"{args.output}.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
