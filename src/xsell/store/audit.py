"""Fairness audit of the decision log: who is offered, contacted and converts, by group.

The protected attributes of every decided customer are stored apart from the decisions
(``protected_attributes``), never as model inputs; this audit is what reads them. For each
protected attribute and each of its groups it counts the decisions (not the control
group's: it is offered nothing by design), the offers among them, the offers that
became contacts, and the learned outcomes and conversions among those, and compares each
group's offer rate with the best-served group's: a ratio below 0.8 (the "four-fifths
rule" of disparate-impact analysis) is flagged for review.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, select

from xsell._time import as_utc
from xsell.control_group import CONTROL
from xsell.store.tables import Contact, Decision, LearnedOutcome, ProtectedAttributes

__all__ = ["FOUR_FIFTHS", "fairness_audit"]

#: an offer-rate ratio below this is flagged (the four-fifths rule)
FOUR_FIFTHS = 0.8

_COLUMNS = [
    "attribute",
    "group",
    "decisions",
    "offers",
    "offer_rate",
    "offer_rate_ratio",
    "flagged",
    "contacts",
    "learned",
    "conversions",
    "conversion_rate",
]


def fairness_audit(engine: Engine, *, since: object = None, until: object = None) -> pd.DataFrame:
    """Offer, contact and conversion rates by protected attribute and group.

    Parameters
    ----------
    engine
        The decision log.
    since, until
        Decision times to audit (timezone-aware; default: all).

    Returns
    -------
    pandas.DataFrame
        One row per attribute and group: ``decisions`` (but the control group's), ``offers``,
        ``offer_rate``, ``offer_rate_ratio`` (to the attribute's highest offer rate),
        ``flagged`` (ratio below :data:`FOUR_FIFTHS`), ``contacts`` (offers delivered or
        sent), ``learned`` (outcomes learned), ``conversions`` and ``conversion_rate``
        (conversions per learned outcome). A missing attribute value is the group
        ``"(missing)"``.
    """
    where = [Decision.traffic_group != CONTROL]
    if since is not None:
        where.append(Decision.at >= as_utc(since, name="since").to_pydatetime())
    if until is not None:
        where.append(Decision.at < as_utc(until, name="until").to_pydatetime())
    query = (
        select(
            Decision.product,
            ProtectedAttributes.attributes,
            Contact.decision_id.label("contact"),
            LearnedOutcome.conversion,
        )
        .join(ProtectedAttributes, ProtectedAttributes.decision_id == Decision.id)
        .outerjoin(Contact, Contact.decision_id == Decision.id)
        .outerjoin(LearnedOutcome, LearnedOutcome.decision_id == Decision.id)
        .where(and_(*where))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return pd.DataFrame(columns=_COLUMNS)
    frame = pd.DataFrame(
        {
            "offered": [r.product is not None for r in rows],
            "contacted": [r.contact is not None for r in rows],
            "learned": [r.conversion is not None for r in rows],
            "converted": [r.conversion == 1 for r in rows],
        }
    )
    attributes = pd.DataFrame([_as_dict(r.attributes) for r in rows])
    out = []
    for attribute in attributes.columns:
        groups = attributes[attribute].map(_group)
        g = frame.groupby(groups.to_numpy(), sort=True)
        table = pd.DataFrame(
            {
                "decisions": g.size(),
                "offers": g["offered"].sum(),
                "contacts": g["contacted"].sum(),
                "learned": g["learned"].sum(),
                "conversions": g["converted"].sum(),
            }
        )
        table["offer_rate"] = table["offers"] / table["decisions"]
        best = table["offer_rate"].max()
        table["offer_rate_ratio"] = table["offer_rate"] / best if best > 0 else float("nan")
        table["flagged"] = table["offer_rate_ratio"] < FOUR_FIFTHS
        table["conversion_rate"] = table["conversions"] / table["learned"].where(
            table["learned"] > 0
        )
        table.insert(0, "attribute", attribute)
        out.append(table.rename_axis("group").reset_index())
    result = pd.concat(out, ignore_index=True)[_COLUMNS]
    return result.astype(
        {c: "int64" for c in ("decisions", "offers", "contacts", "learned", "conversions")}
    )


def _as_dict(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return dict(loaded) if isinstance(loaded, dict) else {}


def _group(value: Any) -> str:
    return (
        "(missing)"
        if value is None or (isinstance(value, float) and value != value)
        else str(value)
    )
