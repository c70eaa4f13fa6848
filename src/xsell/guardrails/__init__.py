"""Guardrails: eligibility, ownership, suitability, consent, cool-off and caps."""

from xsell.guardrails.contact_history import CONTACT_COLUMNS, ContactHistory, InMemoryContactHistory
from xsell.guardrails.rules import GuardrailResult, evaluate_guardrails, reason_labels

__all__ = [
    "CONTACT_COLUMNS",
    "ContactHistory",
    "GuardrailResult",
    "InMemoryContactHistory",
    "evaluate_guardrails",
    "reason_labels",
]
