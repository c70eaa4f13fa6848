"""Schema migrations: Alembic scripts shipped inside the package, run programmatically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from xsell.store.engine import hold_advisory_lock, make_engine, write_transaction
from xsell.store.tables import Base

__all__ = ["MIGRATIONS", "migrate", "schema_diff"]

#: folder of the Alembic environment and its revisions
MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x7853_454C_4C_01  # PostgreSQL advisory lock: one migration at a time


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(url: str | Engine | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (or this engine) up to ``revision`` (default: the newest).

    Safe to run from several processes at once: on PostgreSQL they take turns under an
    advisory lock (on SQLite, under the write lock), and the later ones find nothing to do.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     migrate(f"sqlite:///{os.path.join(d, 'log.db')}")
    """
    engine = url if isinstance(url, Engine) else make_engine(url)
    cfg = _config()
    try:
        with write_transaction(engine) as conn:
            hold_advisory_lock(conn, _LOCK_KEY)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def schema_diff(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate finds between the tables and the database (empty: none)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))
