"""Reward rules: which events count as a delivery, which set which outcome label, and when
an offer's observation window closes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["EVENT_TYPES", "RewardRules"]

#: event types the log accepts unless the rules name others
EVENT_TYPES = ("delivered", "impression", "click", "conversion", "opt_out", "complaint")


def _default_labels() -> dict[str, tuple[str, ...]]:
    return {"conversion": ("conversion",), "opt_out": ("opt_out",)}


class RewardRules(BaseModel):
    """Configuration of how outcome events become the labels the agent learns.

    An offer opens its observation window when it is delivered or shown (a contact); the
    window closes at contact time + ``window_days`` + ``grace_days``. Events whose event time
    lies in the window and that are received before it closes count; a conversion closes
    the window early. A decision is learned once, when its window closes; a later event is
    stored, not learned.

    Parameters
    ----------
    version
        Recorded with every decision.
    event_types
        Accepted event types.
    labels
        For each outcome label the engine learns (``conversion``, ``opt_out``), the event
        types that set it to 1 (it is 0 when the window closes without one).
    delivery_events
        Event types that make an offer a contact and open its window.
    delivery_events_by_channel
        Per channel, a replacement for ``delivery_events`` (e.g. ``{"web": ["impression"]}``).
    contact_at_decision_modes
        Decision modes whose offers count as contacts when recorded (a batch send).
    window_days, grace_days
        The observation window and the grace period for late events.
    window_days_by_product
        Per product, a replacement for ``window_days``.

    Examples
    --------
    >>> rules = RewardRules(window_days=30, grace_days=2)
    >>> rules.label_of("complaint") is None, rules.label_of("conversion")
    (True, 'conversion')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "1"
    event_types: tuple[str, ...] = EVENT_TYPES
    labels: dict[str, tuple[str, ...]] = Field(default_factory=_default_labels)
    delivery_events: tuple[str, ...] = ("delivered", "impression")
    delivery_events_by_channel: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    contact_at_decision_modes: tuple[str, ...] = ("batch",)
    window_days: float = Field(default=30.0, gt=0)
    grace_days: float = Field(default=2.0, ge=0)
    window_days_by_product: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> RewardRules:
        if set(self.labels) - {"conversion", "opt_out"}:
            bad = sorted(set(self.labels) - {"conversion", "opt_out"})
            raise ValueError(f"`labels` may set 'conversion' and 'opt_out', got {bad}")
        if "conversion" not in self.labels:
            raise ValueError("`labels` must say which events set 'conversion'")
        named = [t for ts in self.labels.values() for t in ts]
        named += list(self.delivery_events)
        named += [t for ts in self.delivery_events_by_channel.values() for t in ts]
        unknown = sorted(set(named) - set(self.event_types))
        if unknown:
            raise ValueError(f"event types {unknown} are not in `event_types`")
        for pid, days in self.window_days_by_product.items():
            if not days > 0:
                raise ValueError(f"`window_days_by_product` of {pid!r} must be > 0, got {days}")
        return self

    @cached_property
    def fingerprint(self) -> str:
        """``version`` plus a short hash of the whole configuration (the rules are frozen:
        computed once)."""
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return f"{self.version}-{hashlib.sha256(body).hexdigest()[:8]}"

    def label_of(self, event_type: str) -> str | None:
        """The label an event type sets, or ``None``."""
        for label, types in self.labels.items():
            if event_type in types:
                return label
        return None

    def is_delivery(self, event_type: str, channel: str | None) -> bool:
        """Whether this event makes an offer through ``channel`` a contact."""
        types = self.delivery_events_by_channel.get(channel or "", self.delivery_events)
        return event_type in types

    def window(self, product: str, contact_at: datetime) -> tuple[datetime, datetime]:
        """When the observation window of a contact ends, and when it closes (plus grace)."""
        days = self.window_days_by_product.get(product, self.window_days)
        end = contact_at + timedelta(days=days)
        return end, end + timedelta(days=self.grace_days)
