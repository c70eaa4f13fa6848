"""``xsell learn``: once, or every N seconds until Ctrl-C; bad databases exit with code 2."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.store.conftest import World, build_world
from xsell.cli import app
from xsell.store import migrate
from xsell.store.tables import LearnedOutcome

runner = CliRunner()


def _learned(world: World) -> int:
    with world.log.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LearnedOutcome)).scalar() or 0)


def test_learn_once_stores_one_version_per_batch_then_has_nothing_to_learn(world: World) -> None:
    offered = world.deliver_all()  # delivered on 2026-01-05: every window has closed since
    result = runner.invoke(app, ["learn", "--database-url", world.url, "--batch-size", "10"])
    assert result.exit_code == 0, result.output
    steps = math.ceil(len(offered) / 10)
    assert "model version 1: learned 10 outcomes" in result.output
    assert world.registry.latest() == steps and _learned(world) == len(offered)
    again = runner.invoke(app, ["learn", "--database-url", world.url])
    assert again.exit_code == 0 and "nothing to learn" in again.output
    assert world.registry.latest() == steps


def test_learn_on_a_database_without_a_model_exits_with_code_2(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, ["learn", "--database-url", empty])
    assert result.exit_code == 2 and "no such table" in result.output
    migrate(empty)
    result = runner.invoke(app, ["learn", "--database-url", empty])
    assert result.exit_code == 2 and "no model version in the log" in result.output


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_learn_every_n_seconds_waits_for_the_server_then_learns_until_stopped(
    db_url: str, tmp_path: Path
) -> None:
    cmd = [sys.executable, "-m", "xsell.cli", "learn", "--every", "0.2", "--database-url"]
    # started first, on an empty database: it waits for the schema and version 0
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen([*cmd, db_url], stdout=subprocess.PIPE, stderr=stderr, text=True)
    world = None
    try:
        deadline = time.monotonic() + 60
        while "waiting:" not in log.read_text():
            assert proc.poll() is None, f"the learner exited: {log.read_text()}"
            assert time.monotonic() < deadline, "the learner did not say it waits"
            time.sleep(0.1)
        assert 'relation "model_versions" does not exist' in log.read_text()
        world = build_world(db_url)
        offered = world.deliver_all()  # while the learner runs
        deadline = time.monotonic() + 60
        while _learned(world) < len(offered):
            assert proc.poll() is None, "the learner exited early"
            assert time.monotonic() < deadline, "the learner did not learn within 60 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)  # a service manager's stop; Ctrl-C ends it the same way
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "Learner stopped." in out and "model version 1:" in out
        assert _learned(world) == len(offered)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if world is not None:
            world.log.engine.dispose()
