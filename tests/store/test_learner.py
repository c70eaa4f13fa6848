"""Exactly once: the learner stopped at each named point, and killed for real, then restarted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.store.conftest import RULES, T0, World
from xsell.store import CRASH_POINTS, ModelRegistry, rebuild
from xsell.store.tables import LearnedOutcome

CLOSES = T0 + timedelta(days=RULES.window_days + RULES.grace_days, seconds=1)


class Crash(RuntimeError):
    """The learner 'crashed' here."""


def _prepare(world: World) -> list[str]:
    offered = world.deliver_all()
    events = [
        {
            "decision_id": d,
            "type": "conversion",
            "idempotency_key": f"c-{d}",
            "at": T0 + timedelta(days=1),
        }
        for d in offered[::3]
    ] + [
        {
            "decision_id": d,
            "type": "opt_out",
            "idempotency_key": f"o-{d}",
            "at": T0 + timedelta(days=2),
        }
        for d in offered[1::4]
    ]
    world.log.record_events(events)
    return offered


def _check_exactly_once(world: World, offered: list[str]) -> None:
    with world.log.engine.connect() as conn:
        learned = conn.execute(select(LearnedOutcome.decision_id)).scalars().all()
        versions = conn.execute(
            select(func.count(func.distinct(LearnedOutcome.model_version)))
        ).scalar()
    assert sorted(learned) == sorted(offered)  # each once (the column is unique as well)
    stored = ModelRegistry(world.log.engine).load()
    assert stored.model_version == world.agent.model_version + versions
    assert stored.n_learned == len(offered)
    rebuilt = rebuild(world.log.engine)
    assert rebuilt.model_version == stored.model_version
    for name in ("model", "opt_out_model"):
        a, b = getattr(stored, name).get_state()[1], getattr(rebuilt, name).get_state()[1]
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}.{k}")
    assert stored.coefficients().equals(rebuilt.coefficients())


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_each_point_neither_loses_nor_repeats_an_outcome(
    world: World, point: str
) -> None:
    offered = _prepare(world)
    steps = {"n": 0}

    def crash_on_second_step(at: str) -> None:
        if at == "before_update":
            steps["n"] += 1
        if at == point and steps["n"] == 2:
            raise Crash(at)

    learner = world.learner(batch_size=7, crash_hook=crash_on_second_step)
    learner.run_once(now=CLOSES)
    with pytest.raises(Crash):
        learner.run_once(now=CLOSES)
    world.learner(batch_size=7).run_until_idle(now=CLOSES)  # the restart
    _check_exactly_once(world, offered)


_CHILD = """
import sys
from xsell.store import Learner, RewardRules
learner = Learner(sys.argv[1], rules=RewardRules.model_validate_json(sys.argv[2]), batch_size=2)
print("ready", flush=True)
learner.run_until_idle(now=sys.argv[3])
print("done", flush=True)
"""


def test_a_learner_killed_at_random_moments_learns_everything_exactly_once(world: World) -> None:
    offered = _prepare(world)
    rng = random.Random(7)
    args = [sys.executable, "-c", _CHILD, world.url, RULES.model_dump_json(), CLOSES.isoformat()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = 0
    for _ in range(3):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
        proc.stdout.close()
    assert killed >= 1
    world.learner(batch_size=2).run_until_idle(now=CLOSES)
    _check_exactly_once(world, offered)


def test_alternating_learners_never_store_the_same_version(world: World) -> None:
    offered = _prepare(world)
    a, b = world.learner(batch_size=5), world.learner(batch_size=5)
    while a.run_once(now=CLOSES).version is not None or b.run_once(now=CLOSES).version is not None:
        pass
    _check_exactly_once(world, offered)
