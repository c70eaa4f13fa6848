"""The app factory: ``create_app(settings)`` builds a FastAPI app over one database."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from xsell.service.deps import require_api_key
from xsell.service.errors import install_handlers
from xsell.service.middleware import ServiceMiddleware
from xsell.service.routes import decisions, health, models, outcomes
from xsell.service.settings import Settings
from xsell.service.state import open_state

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving the decision engine.

    On start-up (the app's lifespan) it migrates the database, registers version 0 if
    there is none, loads the newest model version and starts polling for newer ones.

    Parameters
    ----------
    settings
        Configuration (default: read from ``XSELL_*`` environment variables).

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(
    ...     Settings(database_url="sqlite://", api_keys="k", reference_size=50, gc_freeze=False)
    ... )
    >>> with TestClient(app) as client:
    ...     client.get("/healthz").json()["status"], client.get("/v1/models").status_code
    ('ok', 401)
    """
    cfg = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = open_state(cfg)
        app.state.xsell = state
        if cfg.gc_freeze:
            gc.collect()  # start-up's garbage first: frozen objects are never collected
            gc.freeze()
        if cfg.model_poll_seconds > 0:
            threading.Thread(target=state.poll, name="xsell-model-poll", daemon=True).start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="xsell",
        summary="Next-best-offer decisions for bank cross-selling, logged for audit.",
        lifespan=lifespan,
        # every route but health needs the API key, the schema too; no browser pages
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(ServiceMiddleware)
    install_handlers(app)
    for r in (decisions.router, outcomes.router, models.router, health.router):
        app.include_router(r)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_api_key)])
    async def openapi() -> JSONResponse:
        """The OpenAPI document of the API (with the API key, like every route but health)."""
        return JSONResponse(app.openapi())

    return app
