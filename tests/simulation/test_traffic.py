"""The traffic driver against the app in process: decisions logged, outcomes joined,
new model versions stored and served, guardrails kept, the same run twice the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from xsell.service import Settings, create_app
from xsell.simulation.traffic import DayStats, TrafficDriver
from xsell.simulation.worlds.bank import BankWorld
from xsell.store import Learner, ModelRegistry, RewardRules, make_engine
from xsell.store.tables import Contact, Decision, LearnedOutcome, OutcomeEvent

KEY = "traffic-key"
RULES = RewardRules(window_days=3, grace_days=0.5)  # short: silence is learned within the test
START = "2099-03-02T00:00:00Z"  # a fixed start repeats a run exactly


def _play(db: Path, days: int) -> tuple[list[DayStats], dict[str, Any]]:
    url = f"sqlite:///{db}"
    cfg = Settings(
        database_url=url,
        api_keys=KEY,
        reference_size=300,
        model_poll_seconds=0.02,
        reward_rules=RULES,
        gc_freeze=False,
    )
    world = BankWorld(seed=5, customers=500, days=days, window_days=RULES.window_days)
    engine = make_engine(url)
    with TestClient(create_app(cfg), headers={"X-API-Key": KEY}) as client:
        driver = TrafficDriver(
            client,
            world,
            start=START,
            customers_per_request=40,
            learner=Learner(engine, rules=RULES),
        )
        stats = driver.run(days)
        state: dict[str, Any] = {
            "health": client.get("/healthz").json(),
            "models": client.get("/v1/models"),
        }
        with engine.connect() as conn:

            def count(table: Any, *where: Any) -> int:
                n: int = conn.execute(
                    select(func.count()).select_from(table).where(*where)
                ).scalar_one()
                return n

            state["decisions"] = count(Decision)
            state["offers"] = count(Decision, Decision.product.is_not(None))
            state["contacts"] = count(Contact)
            state["outcome_events"] = count(
                OutcomeEvent, OutcomeEvent.type.in_(["conversion", "opt_out"])
            )
            state["learned"] = count(LearnedOutcome)
            state["learned_conversions"] = count(LearnedOutcome, LearnedOutcome.conversion == 1)
            state["learned_silence"] = count(LearnedOutcome, LearnedOutcome.conversion == 0)
            converted = conn.execute(
                select(LearnedOutcome.decision_id).where(LearnedOutcome.conversion == 1)
            ).scalar()
        state["latest"] = ModelRegistry(engine).latest()
        state["audit"] = client.get(f"/v1/decisions/{converted}").json() if converted else None
    engine.dispose()
    return stats, state


@pytest.fixture(scope="module")
def played(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[DayStats], dict[str, Any]]]:
    """Six simulated days of traffic."""
    yield _play(tmp_path_factory.mktemp("traffic") / "x.db", days=6)


def test_every_visit_is_decided_and_logged(played: tuple[list[DayStats], dict[str, Any]]) -> None:
    stats, state = played
    assert len(stats) == 6
    assert state["decisions"] == sum(s.customers for s in stats) > 0
    assert sum(s.requests for s in stats) == sum(-(-s.customers // 40) for s in stats)
    # every offer the service made was delivered, and each delivery is one contact
    assert state["offers"] == state["contacts"] == sum(s.offers for s in stats)
    assert sum(s.refused for s in stats) == 0


def test_outcomes_reach_the_log_and_are_learned(
    played: tuple[list[DayStats], dict[str, Any]],
) -> None:
    stats, state = played
    assert state["outcome_events"] == sum(s.events for s in stats) > 0
    assert state["learned"] == sum(s.learned for s in stats)
    assert state["learned_conversions"] > 0 and state["learned_silence"] > 0
    audit = state["audit"]
    assert audit["learned"]["conversion"] == 1
    types = [e["type"] for e in audit["outcomes"]]
    assert types[0] == "delivered" and "conversion" in types
    window = pd.Timestamp(audit["contact"]["window_ends_at"]) - pd.Timestamp(audit["contact"]["at"])
    assert window == pd.Timedelta(days=RULES.window_days)  # the service's reward rules


def test_new_versions_are_stored_swapped_in_and_named_in_answers(
    played: tuple[list[DayStats], dict[str, Any]],
) -> None:
    stats, state = played
    assert stats[0].versions == (0,)
    assert state["latest"] == stats[-1].version >= len(stats) - 1
    assert state["health"]["model_version"] == state["latest"]
    assert state["models"].headers["X-Model-Version"] == str(state["latest"])
    # each day is decided by the version learned at the end of the day before
    for before, day in pairwise(stats):
        assert day.versions == (before.version,)


def test_the_service_keeps_the_guardrails_and_learning_is_scored(
    played: tuple[list[DayStats], dict[str, Any]],
) -> None:
    stats, _ = played
    assert all(s.forbidden == 0 for s in stats)
    assert all(s.baseline > 0 and s.expected != 0 for s in stats)


def test_the_same_start_and_seed_repeat_a_run(tmp_path: Path) -> None:
    first, _ = _play(tmp_path / "a.db", days=2)
    again, _ = _play(tmp_path / "b.db", days=2)

    def fields(s: DayStats) -> dict[str, Any]:
        return {k: v for k, v in asdict(s).items() if k != "latencies_ms"}

    assert [fields(s) for s in first] == [fields(s) for s in again]
