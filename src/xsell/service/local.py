"""The service in a child process on a free loopback port: for ``xsell run`` and tests.

The parent binds the listening socket (port 0: the system picks a free port, with no race
between choosing and binding) and hands it to uvicorn in a child process. The child gets
its own session, so a Ctrl-C in the terminal reaches only the parent, which then stops the
child in order: SIGINT (uvicorn finishes the requests in flight), SIGKILL after a deadline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import httpx

from xsell.store.rules import RewardRules

__all__ = ["LocalService", "LocalServiceError"]


@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM while the block runs; the signals that came, in order.

    A Ctrl-C inside ``subprocess.Popen`` (after the fork, while it waits for the exec) would
    leave a running child that nothing refers to; deferred, it is handled once the child is
    known. Only the main thread can set handlers; elsewhere nothing is deferred.
    """
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: came.append(signum)) for s in held}
    try:
        yield came
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class LocalServiceError(RuntimeError):
    """The child process did not start serving (its log's last lines are in the message)."""


class LocalService:
    """``xsell.service`` on ``127.0.0.1`` in a child process; a context manager.

    Parameters
    ----------
    database_url
        The decision log (``sqlite:///path`` or ``postgresql://...``).
    log_path
        Where the child's output goes (default: discarded).
    reward_rules
        The service's reward rules (default: the service's own default).
    model_poll_seconds
        How often the service looks for a newer model version.
    api_key
        The key clients send (default: a random one, in :attr:`api_key`).
    env
        More environment variables for the child (``XSELL_*`` settings).
    """

    def __init__(
        self,
        database_url: str,
        *,
        log_path: Path | None = None,
        reward_rules: RewardRules | None = None,
        model_poll_seconds: float = 0.1,
        api_key: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.api_key = api_key if api_key is not None else secrets.token_urlsafe(24)
        self.env = {
            **os.environ,
            "XSELL_DATABASE_URL": database_url,
            "XSELL_API_KEYS": self.api_key,
            "XSELL_MODEL_POLL_SECONDS": str(model_poll_seconds),
            **(env or {}),
        }
        self.env.pop("XSELL_API_KEY_HASHES", None)
        if reward_rules is not None:
            self.env["XSELL_REWARD_RULES"] = reward_rules.model_dump_json()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 120.0) -> LocalService:
        """Start the child and wait (polling ``/healthz``) until it serves, or raise."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            *("-m", "uvicorn", "xsell.service.app:create_app", "--factory"),
            *("--fd", str(sock.fileno()), "--log-level", "warning", "--no-access-log"),
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            with _signals_deferred() as deferred:
                self.process = subprocess.Popen(
                    cmd,
                    env=self.env,
                    pass_fds=(sock.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        finally:
            sock.close()  # the child holds its own copy
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        if deferred:  # Ctrl-C came while the child was being forked: stop it, then obey
            self.stop()
            raise KeyboardInterrupt
        try:
            self._wait_ready(self.process, timeout)
        except BaseException:  # Ctrl-C while starting included: leave nothing running
            self.stop()
            raise
        return self

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0, trust_env=False) as client:
            while True:
                code = process.poll()
                if code is not None:
                    raise LocalServiceError(
                        f"the service exited with code {code} while starting{self._log_tail()}"
                    )
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise LocalServiceError(
                        f"the service did not answer /healthz within {timeout:.0f} s"
                        f"{self._log_tail()}"
                    )
                time.sleep(0.05)

    def client(self, timeout: float = 60.0) -> httpx.Client:
        """An HTTP client of the service, with the API key (no proxy from the environment)."""
        return httpx.Client(
            base_url=self.url,
            headers={"X-API-Key": self.api_key},
            timeout=timeout,
            trust_env=False,
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop the child: SIGINT, then SIGKILL after ``timeout`` s; its exit code."""
        p = self.process
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()[-15:]
        return ":\n" + "\n".join(lines) if lines else ""

    def __enter__(self) -> LocalService:
        return self.start() if self.process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
