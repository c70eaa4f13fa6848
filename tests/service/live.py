"""A real ``xsell serve`` process for tests: started on a free port, stopped cleanly.

The server runs as its own process group (``xsell serve`` is uvicorn's supervisor, its
workers are child processes); :meth:`LiveServer.stop` asks it to shut down with SIGINT,
as Ctrl-C would, and checks that every worker process is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.processes import alive
from tests.service.conftest import KEY

__all__ = ["LiveServer", "free_port", "live_server"]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """``xsell serve --workers N`` on ``database_url``, its log in ``folder``."""

    def __init__(self, database_url: str, folder: Path, *, workers: int, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = folder / "server.log"
        environ = {
            **os.environ,
            "XSELL_API_KEYS": KEY,
            "XSELL_REFERENCE_SIZE": "300",
            **{f"XSELL_{k.upper()}": v for k, v in env.items()},
        }
        cmd = [sys.executable, "-m", "xsell.cli", "serve", "--port", str(self.port)]
        cmd += ["--workers", str(workers), "--database-url", database_url]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=folder,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pids: set[int] = set()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log (for failure messages)."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def health(self) -> httpx.Response:
        """``GET /healthz`` on a new connection (so any worker may answer)."""
        return httpx.get(f"{self.url}/healthz", timeout=10, headers={"Connection": "close"})

    def wait_until_every_worker_answers(self, timeout: float = 120.0) -> None:
        """Poll ``/healthz`` until ``workers`` distinct worker pids have answered."""
        deadline = time.monotonic() + timeout
        while len(self.pids) < self.workers:
            if self.proc.poll() is not None:
                pytest.fail(f"xsell serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"only workers {self.pids} answered in {timeout} s:\n{self.log_tail()}")
            try:
                r = self.health()
            except httpx.TransportError:  # not listening yet
                time.sleep(0.2)
                continue
            if r.status_code == 200:
                self.pids.add(r.json()["worker_pid"])

    def stop(self, timeout: float = 30.0) -> None:
        """Ctrl-C the server; fail if it or a worker is still running after ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                pytest.fail(f"xsell serve did not stop on SIGINT:\n{self.log_tail()}")
        deadline = time.monotonic() + timeout
        while left := [p for p in self.pids if alive(p)]:
            if time.monotonic() > deadline:
                for p in left:
                    os.kill(p, signal.SIGKILL)
                pytest.fail(f"workers {left} outlived the server")
            time.sleep(0.1)


@contextmanager
def live_server(
    database_url: str, folder: Path, *, workers: int, **env: str
) -> Iterator[LiveServer]:
    """A started server whose every worker answered; stopped (and checked) on exit."""
    server = LiveServer(database_url, folder, workers=workers, **env)
    try:
        server.wait_until_every_worker_answers()
        yield server
    finally:
        server.stop()
