"""``GET /healthz`` (no key needed) and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from xsell.service.deps import StateDep, require_api_key
from xsell.service.errors import ERRORS, KEYED_ERRORS
from xsell.service.schemas import HealthResponse

__all__ = ["router"]

router = APIRouter(tags=["operations"], responses=ERRORS)


@router.get("/healthz")
async def health(state: StateDep) -> HealthResponse:
    """Liveness: the worker (its process id) is up and serving a model version."""
    return HealthResponse(status="ok", model_version=state.model_version, worker_pid=os.getpid())


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_key)],
    response_class=Response,
    responses={
        **KEYED_ERRORS,
        200: {
            "description": "The Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
)
def metrics(state: StateDep) -> Response:
    """Counters of decisions, outcomes and errors, and the latency histogram."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
