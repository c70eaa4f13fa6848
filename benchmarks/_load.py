"""Load generators for the service benchmarks: ``wrk`` (closed loop) and an asyncio
open-loop generator, both posting one-customer decision requests with fresh customer ids.

The benchmark scripts run as ``python benchmarks/<script>.py``, so this module is imported
as ``_load``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import xsell
from _server import Server

__all__ = ["ID_MARK", "WRK_INSTALL", "body_templates", "closed_loop", "open_loop", "wrk_script"]

ID_MARK = "__CUSTOMER_ID__"
WRK_INSTALL = "apt-get install wrk   (Debian/Ubuntu; the package is called wrk)"


# -- request bodies ------------------------------------------------------------------------
def body_templates(n: int) -> list[str]:
    """``n`` one-customer request bodies whose customer id is :data:`ID_MARK`."""
    customers = json.loads(xsell.make_customers(n, seed=2026).to_json(orient="records"))
    out = []
    for c in customers:
        c["customer_id"] = ID_MARK
        out.append(json.dumps({"customer": c}, separators=(",", ":")))
    return out


# -- closed loop: wrk ----------------------------------------------------------------------
_LUA = """
local templates = {TEMPLATES}
local counter = 0
local tag = "x"
local key = "{KEY}"
local threads = {}
local n_threads = 0

function setup(thread)
  thread:set("thread_no", n_threads)
  n_threads = n_threads + 1
  table.insert(threads, thread)
end

function init(args)
  tag = args[1] .. "-" .. tostring(thread_no)
end

function request()
  counter = counter + 1
  local body = string.gsub(templates[(counter % #templates) + 1], "{MARK}", tag .. "-" .. counter, 1)
  return wrk.format("POST", "/v1/decisions",
    {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def wrk_script(templates: list[str], key: str, path: Path) -> Path:
    """Write the Lua script wrk runs: one POST per request, a fresh customer id each."""
    lua_list = "{" + ",\n".join(json.dumps(t) for t in templates) + "}"
    text = _LUA.replace("{TEMPLATES}", lua_list).replace("{KEY}", key).replace("{MARK}", ID_MARK)
    path.write_text(text)
    return path


def closed_loop(
    server: Server, script: Path, seconds: float, conns: int, tag: str
) -> dict[str, Any]:
    """``wrk`` with ``conns`` connections for ``seconds`` (one thread: the cores are shared)."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{server.port}",
        "--",
        tag,
    ]
    load_before = load_average()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("WRK_JSON ") :])
    duration = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    ok = raw["requests"] - raw["status"]
    return {
        "tool": "wrk 4 (closed loop)",
        "connections": conns,
        "seconds": round(duration, 2),
        "requests": raw["requests"],
        "ok": ok,
        "rate": round(ok / duration, 1),
        "latency_ms": {
            "p50": raw["p50_us"] / 1e3,
            "p90": raw["p90_us"] / 1e3,
            "p99": raw["p99_us"] / 1e3,
            "max": raw["max_us"] / 1e3,
            "mean": round(raw["mean_us"] / 1e3, 3),
        },
        "errors": errors,
        "error_kinds": {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


# -- open loop: asyncio, a fixed schedule ------------------------------------------------
async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for ln in lines[1:]:
        if ln[:15].lower() == "content-length:":
            length = int(ln[15:])
    await reader.readexactly(length)
    return status


async def _open_loop(
    port: int,
    key: str,
    templates: list[str],
    rate: float,
    seconds: float,
    conns: int,
    timeout: float,
    tag: str,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    head = (
        "POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {key}\r\n"
    )

    def request(i: int) -> bytes:
        body = templates[i % len(templates)].replace(ID_MARK, f"{tag}-{i}", 1).encode()
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    total = int(rate * seconds)
    latency = np.full(total, np.nan)
    service = np.full(total, np.nan)
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    late = 0

    async def one(i: int, due: float, conn: tuple[Any, Any]) -> None:
        reader, writer = conn
        start = loop.time()
        try:
            writer.write(request(i))
            status = await asyncio.wait_for(_read_response(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            failures[type(exc).__name__] += 1
            writer.close()
            conn = await asyncio.open_connection("127.0.0.1", port)
        else:
            end = loop.time()
            statuses[status] += 1
            latency[i], service[i] = end - due, end - start
        idle.put_nowait(conn)

    t0 = loop.time() + 0.1
    stop = t0 + seconds + timeout  # bounded in time: what could not start by then is an error
    tasks = []
    for i in range(total):
        due = t0 + i / rate
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if idle.empty():
            late += 1  # all connections busy: it waits, and its latency counts the wait
        try:
            conn = await asyncio.wait_for(idle.get(), max(stop - loop.time(), 0.001))
        except TimeoutError:
            break
        tasks.append(asyncio.create_task(one(i, due, conn)))
    not_sent = total - len(tasks)
    _, pending = await asyncio.wait(tasks, timeout=timeout + 1)
    for t in pending:
        t.cancel()
    elapsed = loop.time() - t0
    while not idle.empty():
        idle.get_nowait()[1].close()
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    answered = latency[~np.isnan(latency)]
    non_2xx = sum(n for s, n in statuses.items() if not 200 <= s < 300)
    return {
        "tool": "asyncio open-loop generator (this script)",
        "rate_target": rate,
        "max_in_flight": conns,
        "seconds": round(elapsed, 2),
        "requests": total,
        "ok": ok,
        "rate": round(ok / elapsed, 1),
        "latency_ms": _quantiles_ms(answered),
        "service_time_ms": _quantiles_ms(service[~np.isnan(service)]),
        "errors": non_2xx + sum(failures.values()) + len(pending) + not_sent,
        "error_kinds": {
            **{f"http_{s}": n for s, n in statuses.items() if not 200 <= s < 300},
            **failures,
            "unanswered": len(pending),
            "not_sent": not_sent,
        },
        "late": late,
    }


def _quantiles_ms(seconds: np.ndarray) -> dict[str, float]:
    if seconds.size == 0:
        return {}
    q = np.percentile(seconds, [50, 90, 99]) * 1e3
    return {
        "p50": round(float(q[0]), 3),
        "p90": round(float(q[1]), 3),
        "p99": round(float(q[2]), 3),
        "max": round(float(seconds.max() * 1e3), 3),
        "mean": round(float(seconds.mean() * 1e3), 3),
    }


def open_loop(
    server: Server, templates: list[str], args: argparse.Namespace, tag: str
) -> dict[str, Any]:
    """The open loop at ``--rate`` with at most ``--connections`` in flight."""
    load_before = load_average()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency of the service
        run = asyncio.run
    # The generator's own pauses would count as the server's latency: a full collection
    # of this process's heap (xsell, pandas, NumPy imported) holds its event loop ~70 ms.
    # The run's garbage is mostly freed by reference counting; the rest waits until after.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        out = run(
            _open_loop(
                server.port,
                server.key,
                templates,
                args.rate,
                args.open_seconds,
                args.connections,
                args.timeout,
                tag,
            )
        )
    finally:
        gc.enable()
        gc.unfreeze()
    return {**out, "load_average_before": load_before, "load_average_after": load_average()}


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]
