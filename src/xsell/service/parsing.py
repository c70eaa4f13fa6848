"""Reading a request body or header by hand, with FastAPI's validation errors.

The decision route reads its JSON body with pydantic's own JSON parser in one step (no
``json.loads`` then a second pass over Python objects) and reports an invalid body or
header exactly as FastAPI does: a 422 whose ``detail`` lists each invalid field with its
location (``["body", "customer", ...]``, ``["header", "Idempotency-Key"]``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

__all__ = ["IDEMPOTENCY_KEY_PARAMETER", "body_schema", "idempotency_key_of", "parse_body"]

Model = TypeVar("Model", bound=BaseModel)

_IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
]
_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(_IdempotencyKey)

#: the OpenAPI description of the ``Idempotency-Key`` header
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key returns the decisions of the first request",
    "schema": _IDEMPOTENCY_KEY.json_schema(),
}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema, for a route's OpenAPI ``requestBody``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if "$defs" in schema:  # nested models would need their own components
        raise TypeError(f"{model.__name__} must not nest models to be read by parse_body")
    return schema


def _located(exc: ValidationError, *where: str | int) -> RequestValidationError:
    return RequestValidationError(
        [
            {**e, "loc": (*where, *e["loc"])}
            for e in exc.errors(include_url=False, include_input=False)
        ]
    )


def parse_body(model: type[Model], raw: bytes) -> Model:
    """``raw`` (JSON) read as ``model``, or :class:`RequestValidationError` naming the field.

    Examples
    --------
    >>> from pydantic import BaseModel
    >>> class Body(BaseModel):
    ...     top_n: int
    >>> parse_body(Body, b'{"top_n": 2}').top_n
    2
    >>> try:
    ...     parse_body(Body, b'{"top_n": "many"}')
    ... except RequestValidationError as exc:
    ...     print(exc.errors()[0]["loc"])
    ('body', 'top_n')
    """
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _located(exc, "body") from None


def idempotency_key_of(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value checked (1 to 200 characters, no NUL), or
    ``None`` without one."""
    if value is None:
        return None
    try:
        return _IDEMPOTENCY_KEY.validate_python(value)
    except ValidationError as exc:
        raise _located(exc, "header", "Idempotency-Key") from None
