"""LocalService: a service that cannot start is reported with its log, and not left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsell.service.local import LocalService, LocalServiceError


def test_a_service_that_cannot_start_says_why(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    # a directory cannot be opened as the SQLite file: the app's start-up fails
    service = LocalService(f"sqlite:///{tmp_path}", log_path=log)
    with pytest.raises(LocalServiceError, match=r"exited with code \d+ while starting:\n"):
        service.start(timeout=120)
    assert service.process is not None and service.process.poll() is not None
    assert "sqlite" in log.read_text().lower()
