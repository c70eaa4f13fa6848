"""Request and response bodies of the API (kept apart from the tables)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, FiniteFloat, StringConstraints

__all__ = [
    "AuditView",
    "DecisionRequestBody",
    "DecisionsResponse",
    "ErrorBody",
    "FieldError",
    "HealthResponse",
    "ModelsResponse",
    "Offer",
    "OutcomeEventBody",
    "OutcomesRefused",
    "OutcomesResponse",
    "RefusedDelivery",
    "RefusedOffer",
]

#: text without NUL characters (PostgreSQL cannot store them)
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
Scalar = Text | int | float | bool | None
CustomerBody = dict[str, Scalar]


class DecisionRequestBody(BaseModel):
    """Decide for one customer or a list of them."""

    model_config = ConfigDict(extra="forbid")

    customer: CustomerBody | list[CustomerBody] = Field(
        description="The customer's columns (an object), or a list of such objects"
    )
    channel: Text | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="The channel asking (web, app, ...): part of the placement key",
    )
    placement: Text = Field(default="default", min_length=1, max_length=64)
    top_n: int = Field(default=1, ge=1, le=10)
    at: AwareDatetime | None = Field(default=None, description="Decision time (default: now)")
    mode: Literal["realtime", "batch"] = "realtime"


class Offer(BaseModel):
    """One offer slot: what was decided for a customer, and why."""

    decision_id: str
    customer_id: str
    rank: int
    product: str | None
    channel: str | None
    probability: float
    explanation: str


class RefusedOffer(BaseModel):
    """A batch offer whose contact the contact rules refused when it was recorded (another
    request contacted the customer first): it must not be sent."""

    decision_id: str
    customer_id: str
    product: str
    rule: str = Field(description="cool-off period, frequency cap or contact limit")


class DecisionsResponse(BaseModel):
    """The offers made (always a list; a customer with nothing to offer has none).

    A batch-mode offer is a contact when it is recorded; one the contact rules refused
    then is listed in ``refused`` instead of ``offers``.
    """

    offers: list[Offer]
    model_version: int
    refused: list[RefusedOffer] = Field(default_factory=list)


class FieldError(BaseModel):
    """One invalid field: where it is (``loc``), what is wrong, and the kind of error."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error response: ``detail`` says what is wrong, naming the field; for a request
    that does not match this schema, one entry per invalid field."""

    detail: str | list[FieldError]


class OutcomeEventBody(BaseModel):
    """Something that happened after a decision."""

    model_config = ConfigDict(extra="forbid")

    decision_id: Text = Field(min_length=1, max_length=64)
    type: Text = Field(min_length=1, max_length=32)
    value: FiniteFloat | None = None
    at: AwareDatetime | None = Field(default=None, description="Event time (default: now)")
    idempotency_key: Text = Field(min_length=1, max_length=200)


class RefusedDelivery(BaseModel):
    """A delivery event the contact rules refused: the offer must not be delivered."""

    decision_id: str
    idempotency_key: str
    rule: str = Field(description="cool-off period, frequency cap or contact limit")


class OutcomesResponse(BaseModel):
    """How many events were new and how many were stored before (same idempotency key)."""

    stored: int
    duplicate: int


class OutcomesRefused(OutcomesResponse):
    """409: the events are stored, but the contact rules refused these deliveries (they
    are not contacts; a retry of the same idempotency key gives the same answer)."""

    detail: str
    refused: list[RefusedDelivery]


class AuditView(BaseModel):
    """Everything the log holds on one decision."""

    decision_id: str
    at: str
    customer_id: str
    rank: int
    mode: str
    channel: str | None
    placement: str
    product: str | None
    probability: float
    probabilities: dict[str, Any]
    expected_value: float
    explored: bool
    eligible: list[Any]
    blocked: dict[str, Any]
    inputs: dict[str, float] | None
    explanation: str | None
    versions: dict[str, Any]
    contact: dict[str, Any] | None
    refused_contacts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Deliveries or batch sends of this offer the contact rules refused",
    )
    outcomes: list[dict[str, Any]]
    learned: dict[str, Any] | None


class HealthResponse(BaseModel):
    """The worker is up: which model version it serves, and its process id."""

    status: Literal["ok"]
    model_version: int
    worker_pid: int


class ModelsResponse(BaseModel):
    """The stored model versions and the serving version's coefficients."""

    serving_version: int
    versions: list[dict[str, Any]]
    coefficients: list[dict[str, Any]]
