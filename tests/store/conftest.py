"""Store fixtures: every test runs on a fresh SQLite file and on a fresh PostgreSQL database.

The databases come from :mod:`tests.databases` (PostgreSQL at 127.0.0.1:5432; a test fails,
never skips, when it cannot be reached).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pytest

import xsell
from tests.databases import BACKENDS, fresh_database
from xsell.store import DecisionLog, Learner, ModelRegistry, RewardRules, make_engine, migrate

T0 = pd.Timestamp("2026-01-05T09:00:00Z").to_pydatetime()
RULES = RewardRules(window_days=10, grace_days=2)


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database URL with nothing in it: a SQLite file, or a PostgreSQL database."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    """A migrated log with a registered agent and recorded decisions."""

    url: str
    log: DecisionLog
    registry: ModelRegistry
    agent: xsell.Agent
    decisions: pd.DataFrame
    clock: FixedClock

    @property
    def offered(self) -> list[str]:
        """Ids of decisions that offered a product."""
        d = self.decisions
        return d.loc[d["product"].notna(), "decision_id"].astype(str).tolist()

    def deliver_all(self, at: datetime = T0 + timedelta(seconds=1)) -> list[str]:
        """Deliver every offer (caps off: this is about learning)."""
        for i in self.offered:
            self.log.record_delivery(i, at=at, enforce_caps=False)
        return self.offered

    def learner(self, **kwargs: object) -> Learner:
        """A learner on this world's database."""
        return Learner(self.log.engine, rules=RULES, **kwargs)  # type: ignore[arg-type]


def build_world(url: str, n: int = 60, catalog: xsell.Catalog | None = None) -> World:
    """Migrate, register an agent as version 0, decide for ``n`` customers and record it."""
    migrate(url)
    engine = make_engine(url, pool_size=20)
    clock = FixedClock(T0)
    cat = catalog if catalog is not None else xsell.Catalog.sample()
    log = DecisionLog(engine, catalog=cat, rules=RULES, clock=clock)
    agent = xsell.Agent(
        cat, xsell.sample_feature_spec(), seed=5, history=log, record_contacts=False
    )
    customers = xsell.make_customers(n, seed=5)
    agent.fit_features(customers)
    registry = ModelRegistry(engine)
    registry.register(agent, at=T0)
    decisions = agent.act(customers, at=T0)
    log.record_decisions(decisions, agent, customers=customers)
    return World(url, log, registry, agent, decisions, clock)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    """A world on each backend (engines disposed afterwards)."""
    w = build_world(db_url)
    yield w
    w.log.engine.dispose()
