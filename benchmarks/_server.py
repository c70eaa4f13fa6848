"""A real ``xsell serve`` for the service benchmarks: started on a fresh database, polled
until healthy, stopped; and the CPU time its processes (and PostgreSQL's) spend.

The benchmark scripts run as ``python benchmarks/<script>.py``, so this module is imported
as ``_server``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, select

from xsell.store.engine import database_url
from xsell.store.tables import Decision

__all__ = ["CpuMeter", "Server", "decisions_in_log", "fresh_database", "serve"]


# -- the server ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``xsell serve`` process (its own session, so it is stopped as a group)."""

    process: subprocess.Popen[bytes]
    port: int
    key: str
    url: str
    log: Path


@contextlib.contextmanager
def serve(url: str, workers: int, workdir: Path, deadline_s: float) -> Iterator[Server]:
    """Start ``xsell serve`` on ``url`` and wait until ``/healthz`` answers; stop it after."""
    port, key = _free_port(), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "XSELL_API_KEYS": key,
        "XSELL_DATABASE_URL": url,
        "OPENBLAS_NUM_THREADS": "1",  # the workers share 2 cores: no BLAS thread pools
        "OMP_NUM_THREADS": "1",
    }
    exe = Path(sys.executable).with_name("xsell")
    log = workdir / f"server-{port}.log"
    cmd = [
        str(exe),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(proc, port, key, url, log)
    try:
        _wait_healthy(server, deadline_s, workers)
        yield server
    finally:
        _stop(proc)


def _wait_healthy(server: Server, deadline_s: float, workers: int) -> None:
    """Poll ``/healthz`` until it answers ``workers * 5`` times in a row, or fail."""
    deadline = time.monotonic() + deadline_s
    streak = 0
    while streak < 5 * workers:
        if server.process.poll() is not None:
            raise SystemExit(f"the server exited:\n{server.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the server did not get healthy in {deadline_s:.0f} s:\n"
                f"{server.log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=2) as r:
                streak = streak + 1 if r.status == 200 else 0
        except (urllib.error.URLError, OSError):
            streak = 0
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (uvicorn stops its workers), SIGKILL if stuck."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def fresh_database(backend: str, admin_url: str, workdir: Path) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"xsell_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is needed at {admin_url}: {exc}") from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def decisions_in_log(url: str) -> int:
    """How many decisions the log holds."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            n: int = conn.execute(select(func.count()).select_from(Decision)).scalar_one()
    finally:
        engine.dispose()
    return n


# -- CPU time: who spends what per request (other work on the machine does not count) -----
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields after "(comm)", from field 3 on


def _tree(root: int) -> list[int]:
    """``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(int(st[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _backends(database: str | None) -> list[int]:
    """PostgreSQL server processes serving ``database`` (their title names it)."""
    if database is None:
        return []
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            out.append(int(entry.name))
    return out


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        st = _stat(pid)
        if st is not None:
            out[pid] = (int(st[11]) + int(st[12])) / _TICK  # utime + stime
    return out


@dataclass
class CpuMeter:
    """CPU seconds of the server's processes, its PostgreSQL backends and the generator."""

    server_pid: int
    database: str | None

    def read(self) -> dict[str, Any]:
        own = os.times()
        return {
            "server": _cpu_seconds(_tree(self.server_pid)),
            "postgresql": _cpu_seconds(_backends(self.database)),
            "generator": own.user + own.system + own.children_user + own.children_system,
        }

    @staticmethod
    def per_request(before: dict[str, Any], after: dict[str, Any], requests: int) -> dict[str, Any]:
        """CPU milliseconds per answered request, by who spent them."""

        def spent(key: str) -> float:
            a, b = after[key], before[key]
            return sum(v - b.get(pid, 0.0) for pid, v in a.items())  # new processes from 0

        used = {
            "server": spent("server"),
            "postgresql": spent("postgresql"),
            "load_generator": after["generator"] - before["generator"],
        }
        n = max(requests, 1)
        per = {k: round(v / n * 1e3, 3) for k, v in used.items()}
        total = sum(per.values())
        cpus = len(os.sched_getaffinity(0))
        # each server process's share (the workers' balance: each has its own connections)
        a, b = after["server"], before["server"]
        busy = sorted((v - b.get(pid, 0.0) for pid, v in a.items()), reverse=True)
        shares = [round(x / used["server"], 2) for x in busy if x > 0.01 * used["server"]]
        return {
            **per,
            "server_process_shares": shares if used["server"] > 0 else [],
            "total": round(total, 3),
            # what the machine could answer if nothing else ran on it
            "capacity_rps": round(cpus * 1e3 / total) if total > 0 else None,
        }
