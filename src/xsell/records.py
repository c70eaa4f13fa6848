"""Records that cross boundaries: outcomes fed back to the agent, and update summaries."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OfferResult", "UpdateSummary"]


@dataclass(frozen=True, slots=True)
class OfferResult:
    """The observed outcome of one decision.

    Parameters
    ----------
    decision_id
        The id :meth:`xsell.Agent.act` returned.
    conversion
        1 if the customer took the offered product within the observation window, else 0.
    opt_out
        1 if the customer withdrew marketing consent after the offer, 0 if not, ``None``
        if unknown (the opt-out model then learns nothing from this decision).
    """

    decision_id: str
    conversion: int
    opt_out: int | None = None


@dataclass(frozen=True, slots=True)
class UpdateSummary:
    """What one :meth:`xsell.Agent.update` call learned."""

    learned: int
    conversions: int
    opt_outs_learned: int
    skipped_no_offer: int
    model_version: int
