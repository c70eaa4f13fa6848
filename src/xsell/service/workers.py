"""Several worker processes on one port, each with a listening socket of its own.

uvicorn's own ``--workers`` shares one listening socket among its workers, and whichever
worker wakes first accepts every connection that is waiting: a client that opens a few
keep-alive connections at once (a load balancer, a gateway, a load generator) often has
all of them on one worker while the others idle (seen here: 16 connections split 16/0,
13/3 or 8/8 from one run to the next). Here every worker binds its own socket to the port
with ``SO_REUSEPORT``, and the kernel spreads new connections over the workers by a hash
of their addresses, whatever each worker is doing.

:func:`run_workers` is the supervisor: it starts the workers (fresh interpreters), starts a
new one when one dies, and on SIGINT or SIGTERM passes the signal on (each worker finishes
the requests it is serving) and waits for them, killing any still running after
``grace_seconds``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Mapping
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["reuse_port_supported", "run_workers"]

logger = logging.getLogger("xsell.service")

#: the app every worker serves (a factory: each worker builds its own state)
APP = "xsell.service.app:create_app"
_RESTART_PAUSE_S = 1.0  # a worker that dies at start-up is not restarted in a tight loop


def reuse_port_supported() -> bool:
    """Whether this system lets several sockets listen on one port (``SO_REUSEPORT``)."""
    return hasattr(socket, "SO_REUSEPORT")


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _serve(host: str, port: int, options: Mapping[str, Any]) -> None:
    """One worker: its own socket on the port, uvicorn serving the app on it."""
    sock = _listening_socket(host, port)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def _check_port(host: str, port: int) -> None:
    """Fail now, with a clear message, when the port is taken (not at every worker start)."""
    try:
        _listening_socket(host, port).close()
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run_workers(
    host: str,
    port: int,
    workers: int,
    options: Mapping[str, Any],
    *,
    grace_seconds: float = 30.0,
) -> int:
    """Serve the app from ``workers`` processes on ``host:port`` until SIGINT or SIGTERM.

    ``options`` are further :class:`uvicorn.Config` settings of every worker (log level,
    access log, ...). Returns the process exit status: 0 after a clean stop.
    """
    _check_port(host, port)
    context = multiprocessing.get_context("spawn")
    stopping: list[int] = []

    def start() -> BaseProcess:
        p = context.Process(target=_serve, args=(host, port, dict(options)), daemon=False)
        p.start()
        return p

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    logger.info("xsell: %d workers on %s:%d (pids %s)", workers, host, port, _pids(procs))
    try:
        while not stopping:
            for i, p in enumerate(procs):
                if not p.is_alive() and not stopping:
                    logger.warning(
                        "xsell: worker %s exited with %s; starting another", p.pid, p.exitcode
                    )
                    time.sleep(_RESTART_PAUSE_S)
                    procs[i] = start()
            time.sleep(0.2)
        for p in procs:  # each worker finishes the requests it is serving, then exits
            if p.is_alive() and p.pid is not None:
                _stop(p.pid)
        deadline = time.monotonic() + grace_seconds
        for p in procs:
            p.join(max(deadline - time.monotonic(), 0.0))
            if p.is_alive():
                logger.warning(
                    "xsell: worker %s did not stop in %.0f s; killed", p.pid, grace_seconds
                )
                p.kill()
                p.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def _stop(pid: int) -> None:
    # SIGTERM, not the signal received: a worker that got Ctrl-C from the terminal too
    # would take a second SIGINT as "force quit" and drop the requests it is serving
    with contextlib.suppress(ProcessLookupError):  # (it just exited)
        os.kill(pid, signal.SIGTERM)


def _pids(procs: list[BaseProcess]) -> str:
    return ", ".join(str(p.pid) for p in procs)
