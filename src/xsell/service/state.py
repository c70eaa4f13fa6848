"""What a running service holds: the engine, the decision log and the serving agent.

The agent is the model registry's newest version; on the first start of an empty
database an agent is built from the catalog and the sample feature spec, its features
fitted on a generated reference, and registered as version 0. A background thread polls
the registry and swaps a newer version in, loaded off the request path.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from xsell.agent import Agent
from xsell.catalog.loader import load_catalog
from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.service.batcher import Batcher
from xsell.service.metrics import Metrics
from xsell.service.settings import Settings
from xsell.simulation.bank import make_customers, sample_feature_spec
from xsell.store import DecisionLog, ModelRegistry, make_engine, migrate
from xsell.store.engine import database_url

__all__ = ["ServiceState", "open_state"]


@dataclass
class ServiceState:
    """The shared state of one worker process.

    ``lock`` serializes the agent's calls (it keeps the model inputs of its recent
    decisions) and model swaps; ``batcher`` decides requests that arrive together in one
    call and records them in one transaction.
    """

    settings: Settings
    engine: Engine
    log: DecisionLog
    registry: ModelRegistry
    agent: Agent
    metrics: Metrics
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    batcher: Batcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = Batcher(
            self,
            self.metrics.batch_size.observe,
            linger=self.settings.batch_linger_ms / 1000,
        )

    @property
    def model_version(self) -> int:
        """The version of the serving agent."""
        return self.agent.model_version

    def refresh(self) -> bool:
        """Load the registry's newest version if it is newer; whether it swapped."""
        latest = self.registry.latest()
        if latest is None or latest <= self.agent.model_version:
            return False
        agent = self.registry.load(latest, history=self.log)  # off the lock: slow part
        agent.record_contacts = False
        with self.lock:
            if agent.model_version > self.agent.model_version:
                self.agent = agent
                return True
        return False

    def poll(self) -> None:
        """Refresh every ``model_poll_seconds`` until :attr:`stop` is set."""
        interval = self.settings.model_poll_seconds
        while not self.stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # a failed poll keeps the current version; try again later
                self.metrics.errors.labels(status="poll").inc()

    def close(self) -> None:
        """Stop polling, release the database."""
        self.stop.set()
        self.log.close()
        self.engine.dispose()


def _catalog(settings: Settings) -> Catalog:
    if settings.catalog_path is None:
        return Catalog.sample()
    return load_catalog(settings.catalog_path)


def _pool(settings: Settings) -> dict[str, int]:
    """Pool sizes for a server database (an in-memory SQLite database has a single
    connection: nothing to size)."""
    url = make_url(database_url(settings.database_url))
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return {}
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_pool_size // 2}


def open_state(settings: Settings) -> ServiceState:
    """Migrate the database, register version 0 if it holds none, and load the newest."""
    engine = make_engine(settings.database_url, **_pool(settings))
    migrate(engine)
    catalog = _catalog(settings)
    log = DecisionLog(engine, catalog=catalog, rules=settings.reward_rules)
    registry = ModelRegistry(engine)
    if registry.latest() is None:
        agent = Agent(
            catalog, sample_feature_spec(), seed=settings.seed, history=log, record_contacts=False
        )
        agent.fit_features(make_customers(settings.reference_size, seed=settings.seed))
        with contextlib.suppress(InputError):  # another worker registered first: serve it
            registry.register(agent)
    agent = registry.load(history=log)
    agent.record_contacts = False
    log.catalog = agent.catalog
    return ServiceState(settings, engine, log, registry, agent, Metrics())
