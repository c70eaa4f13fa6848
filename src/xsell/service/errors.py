"""Exception handlers: xsell's errors become 4xx naming the field; nothing leaks a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from xsell.errors import PersistenceError, UnknownDecisionError, XsellError
from xsell.service.schemas import ErrorBody

__all__ = ["ERRORS", "KEYED_ERRORS", "install_handlers"]

#: error responses any route may give (OpenAPI), whatever its input
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request body cannot be parsed"},
    413: {"model": ErrorBody, "description": "The request body is too large"},
    422: {"model": ErrorBody, "description": "Invalid input; `detail` names the field"},
}
#: and those of the routes that need an API key
KEYED_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request body cannot be parsed"},
    **ERRORS,
    401: {"model": ErrorBody, "description": "No valid API key in `X-API-Key`"},
    404: {"model": ErrorBody, "description": "An unknown decision id"},
    503: {"model": ErrorBody, "description": "The model store cannot be read"},
}

logger = logging.getLogger("xsell.service")


async def _xsell_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnknownDecisionError):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    if isinstance(exc, PersistenceError):
        return JSONResponse({"detail": "the model store cannot be read"}, status_code=503)
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    # the offending input is not echoed back: it may be huge, personal, or not JSON (NaN)
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
        for e in errors
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install_handlers(app: FastAPI) -> None:
    """Map validation and xsell errors to 404/422/503 naming the field; anything else to a
    bare 500 (no traceback)."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(XsellError, _xsell_error)
    app.add_exception_handler(Exception, _unexpected)
