"""One ASGI middleware: body size limit (413), model version header, metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ServiceMiddleware"]


class ServiceMiddleware:
    """Refuse bodies over ``max_body_bytes``, add ``X-Model-Version``, count and time requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: Any = scope["app"].state.xsell
        limit = state.settings.max_body_bytes
        start = time.perf_counter()
        status = 500

        async def send_with_version(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Model-Version"] = str(state.model_version)
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        too_large = length is not None and (not length.isdigit() or int(length) > limit)
        if too_large:
            response = JSONResponse(
                {"detail": f"the request body must be at most {limit} bytes"}, status_code=413
            )
            await response(scope, receive, send_with_version)
        else:
            received = 0

            async def limited(  # bodies without a Content-Length are counted as they come
            ) -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise HTTPException(413, f"the request body must be at most {limit} bytes")
                return message

            await self.app(scope, limited, send_with_version)
        route = getattr(scope.get("route"), "path", "unmatched")
        state.metrics.latency.labels(route=route).observe(time.perf_counter() - start)
        if status >= 400:
            state.metrics.errors.labels(status=str(status)).inc()
