"""Dependencies of the routes: the service state, the agent, the log, the API key.

They are coroutines: FastAPI runs a plain function dependency in its thread pool, a
thread hand-off per dependency per request that costs more than these few lines.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine

from xsell.service.state import ServiceState
from xsell.store import DecisionLog

__all__ = [
    "API_KEY_HEADER",
    "API_KEY_SCHEME",
    "EngineDep",
    "LogDep",
    "StateDep",
    "check_api_key",
    "require_api_key",
]

#: the header that carries the API key
API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
#: the key's security scheme in the OpenAPI document
API_KEY_SCHEME = _api_key.scheme_name


async def get_state(request: Request) -> ServiceState:
    """The worker's state, built by the app's lifespan."""
    state: ServiceState = request.app.state.xsell
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_engine(state: StateDep) -> Engine:
    """The decision log's engine."""
    return state.engine


async def get_log(state: StateDep) -> DecisionLog:
    """The decision log."""
    return state.log


EngineDep = Annotated[Engine, Depends(get_engine)]
LogDep = Annotated[DecisionLog, Depends(get_log)]


async def require_api_key(state: StateDep, key: Annotated[str | None, Security(_api_key)]) -> None:
    """401 unless the ``X-API-Key`` header holds a configured key (the key is never logged)."""
    check_api_key(state, key)


def check_api_key(state: ServiceState, key: str | None) -> None:
    """:func:`require_api_key` for a route that reads its header itself."""
    if not state.settings.key_is_valid(key):
        raise HTTPException(
            status_code=401,
            detail="a valid API key is required in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
