"""The decision log: the system of record behind the service, and the learner over it.

Kept out of ``import xsell`` (it needs SQLAlchemy); import ``xsell.store`` explicitly.

* :func:`make_engine` / :func:`migrate`: SQLite file by default, PostgreSQL by URL
  (``XSELL_DATABASE_URL``); the schema is built by the Alembic migrations shipped here.
* :class:`DecisionLog`: decisions, deliveries (contacts, with an atomic cap check),
  outcome events (idempotent); it is the agent's contact history.
* :class:`ModelRegistry`: stored agent versions. :class:`Learner`: closed outcomes
  learned exactly once into new versions; :func:`rebuild` replays them.
* :func:`fairness_audit`: offer, contact and conversion rates by protected group (the one
  reader of the restricted protected attributes).
"""

from xsell.store.audit import fairness_audit
from xsell.store.engine import database_url, make_engine
from xsell.store.learner import CRASH_POINTS, Learner, LearnResult, rebuild
from xsell.store.log import DecisionLog
from xsell.store.migrate import migrate, schema_diff
from xsell.store.registry import ModelRegistry, agent_from_bytes, agent_to_bytes
from xsell.store.rules import RewardRules

__all__ = [
    "CRASH_POINTS",
    "DecisionLog",
    "LearnResult",
    "Learner",
    "ModelRegistry",
    "RewardRules",
    "agent_from_bytes",
    "agent_to_bytes",
    "database_url",
    "fairness_audit",
    "make_engine",
    "migrate",
    "rebuild",
    "schema_diff",
]
