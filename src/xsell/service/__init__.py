"""The HTTP API: FastAPI, thin over the agent and the decision log.

Kept out of ``import xsell`` (it needs FastAPI and SQLAlchemy); import ``xsell.service``.
Build the app with :func:`create_app` and a :class:`Settings`; ``xsell serve`` runs it.
"""

from xsell.service.app import create_app
from xsell.service.settings import Settings, hash_key

__all__ = ["Settings", "create_app", "hash_key"]
