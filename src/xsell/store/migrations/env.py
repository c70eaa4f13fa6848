"""Alembic environment of the decision log: run by :func:`xsell.store.migrate`.

The caller hands over an open connection (``config.attributes["connection"]``); SQLite
migrations run in batch mode (copy-and-move), since SQLite cannot alter most constraints.
"""

from __future__ import annotations

from alembic import context

from xsell.store.tables import Base

_connection = context.config.attributes["connection"]
context.configure(
    connection=_connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
