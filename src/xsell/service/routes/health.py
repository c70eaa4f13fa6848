"""``GET /healthz`` (no key needed) and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from xsell.service.deps import StateDep, require_api_key

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def health(state: StateDep) -> dict[str, object]:
    """Liveness: the worker (its process id) is up and serving a model version."""
    return {"status": "ok", "model_version": state.model_version, "worker_pid": os.getpid()}


@router.get("/metrics", dependencies=[Depends(require_api_key)])
def metrics(state: StateDep) -> Response:
    """Counters of decisions, outcomes and errors, and the latency histogram."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
