"""A started worker freezes its start-up objects (``XSELL_GC_FREEZE``), so a full garbage
collection no longer visits them; off, nothing is frozen.

Each app starts in a child process: freezing is process-wide, and this test runner's objects
must stay collectable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import gc, sys
from fastapi.testclient import TestClient
from xsell.service import Settings, create_app

cfg = Settings(database_url=sys.argv[1], api_keys="k", reference_size=50, model_poll_seconds=0)
before = gc.get_freeze_count()
with TestClient(create_app(cfg), headers={"X-API-Key": "k"}) as client:
    ok = client.get("/v1/models").status_code
    print(before, gc.get_freeze_count(), len(gc.get_objects()), ok)
"""


@pytest.mark.parametrize("freeze", ["true", "false"])
def test_a_started_worker_freezes_its_start_up_objects(tmp_path: Path, freeze: str) -> None:
    env = {**os.environ, "XSELL_GC_FREEZE": freeze}
    url = f"sqlite:///{tmp_path / 'log.db'}"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    before, frozen, tracked, status = (int(v) for v in done.stdout.split())
    assert (before, status) == (0, 200)
    if freeze == "true":
        # the modules, the agent and the catalog: far more than what serving one request left
        assert frozen > 50_000
        assert tracked < frozen / 10
    else:
        assert frozen == 0
        assert tracked > 50_000
