"""Ctrl-C on ``xsell run`` stops the simulated bank, the learner and the service cleanly:
exit code 130, no traceback, no process left behind (Linux: children read from /proc)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import alive

XSELL = str(Path(sys.executable).with_name("xsell"))


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)


class Run:
    """``xsell run`` in a child process, its output collected as it comes."""

    def __init__(self, tmp: Path) -> None:
        self.stderr_path = tmp / "stderr.txt"
        self.lines: list[str] = []
        args = ["--days", "60", "--visitors", "100", "--start", "2099-03-02"]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [XSELL, "run", *args, "--db", str(tmp / "demo.db")],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def interrupt(self) -> tuple[int, str, str]:
        """SIGINT; the exit code, stdout and stderr once it exited (within 60 s)."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)  # the rest of stdout, up to its end
        return code, "".join(self.lines), self.stderr_path.read_text()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    r = Run(tmp_path)
    yield r
    if r.proc.poll() is None:  # a failed test leaves nothing running either
        for child in _children(r.proc.pid):
            os.kill(child, signal.SIGKILL)
        r.proc.kill()
        r.proc.wait()
    r.reader.join(timeout=10)
    assert r.proc.stdout is not None
    r.proc.stdout.close()


def _check_clean_exit(run: Run, service: set[int]) -> str:
    code, out, err = run.interrupt()
    assert code == 130, (out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    assert "Stopped by Ctrl-C" in err
    _wait_for(lambda: not any(alive(p) for p in service), 30, "the service to exit")
    return out


def test_ctrl_c_during_traffic_stops_everything(run: Run) -> None:
    first_day = re.compile(r"^\s+1\s+\d+\s+\d+")
    _wait_for(lambda: any(first_day.match(x) for x in run.lines), 300, "the first day line")
    service = _children(run.proc.pid)
    assert service and all(alive(p) for p in service)
    out = _check_clean_exit(run, service)
    assert "simulated days in" in out  # the days played are summed up


def test_ctrl_c_while_the_service_starts_stops_everything(run: Run) -> None:
    _wait_for(lambda: bool(_children(run.proc.pid)), 120, "the service's process")
    service = _children(run.proc.pid)
    _check_clean_exit(run, service)
