"""Guardrails: rules applied before the policy chooses, that no learning may override.

For ``n`` customers and ``K`` products they give a boolean ``eligible`` matrix and, for
every blocked (customer, product), the first rule that blocked it, checked in this order:
withdrawn product, already owned, eligibility rules, suitability rules, channel consent,
cool-off, the product's frequency cap, the catalog-wide contact limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from xsell.catalog.product import Catalog, Mode, Product, Rule
from xsell.errors import InputError, SchemaError
from xsell.features.spec import FeatureSpec
from xsell.guardrails.contact_history import ContactHistory
from xsell.guardrails.contact_summary import (
    ContactSummaries,
    rule_inputs,
    since,
)

__all__ = [
    "NO_CHANNEL",
    "GuardrailResult",
    "consent_flags",
    "contact_blocks",
    "evaluate_guardrails",
    "reason_labels",
]


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    """Which products each customer may be offered, and why not.

    Attributes
    ----------
    eligible
        Boolean (n, K).
    reason
        Integer (n, K): 0 where eligible, else an index into ``labels``.
    labels
        Reason texts; ``labels[0] == ""``.
    contacts_left
        Offers each customer may still receive under the catalog-wide contact limit (a
        ranked list of offers is cut there).
    """

    eligible: np.ndarray
    reason: np.ndarray
    labels: tuple[str, ...]
    contacts_left: np.ndarray

    def with_unreachable(
        self, arm_product: np.ndarray, arm_eligible: np.ndarray
    ) -> GuardrailResult:
        """Mark products allowed in themselves but through no allowed channel (channel choice)."""
        reachable = np.zeros_like(self.eligible)
        rows = np.repeat(np.arange(len(arm_eligible)), arm_eligible.shape[1])
        np.logical_or.at(
            reachable, (rows, np.tile(arm_product, len(arm_eligible))), arm_eligible.ravel()
        )
        reason = self.reason.copy()
        reason[self.eligible & ~reachable] = self.labels.index(NO_CHANNEL)
        return GuardrailResult(reason == 0, reason, self.labels, self.contacts_left)

    def with_blocks(self, blocks: Mapping[str, np.ndarray]) -> GuardrailResult:
        """Block more (customer, product) pairs, each mask under its own reason.

        ``blocks`` maps a reason (e.g. ``"control group"``, ``"campaign capacity"``) to a
        boolean mask, (n, K) or (n,) for every product; the reasons are checked after every
        built-in guardrail, in the order given, and appended to :attr:`labels`.
        """
        labels = list(self.labels)
        reason = self.reason.copy()
        for label, mask in blocks.items():
            m = np.asarray(mask, dtype=bool)
            if m.ndim == 1:
                m = m[:, None]
            if m.shape[0] != reason.shape[0] or m.shape[1] not in (1, reason.shape[1]):
                raise InputError(
                    f"`blocked` mask {label!r} has shape {m.shape}; expected "
                    f"({reason.shape[0]},) or {reason.shape}"
                )
            if label not in labels:
                labels.append(label)
            reason[(reason == 0) & m] = labels.index(label)
        return GuardrailResult(reason == 0, reason, tuple(labels), self.contacts_left)


#: why a product is blocked when the agent chooses channels and none is consented
NO_CHANNEL = "no consent for any of its channels"


def consent_flags(
    customers: pd.DataFrame, spec: FeatureSpec, channels: Sequence[str]
) -> dict[str, np.ndarray]:
    """Per channel, whether each customer may be contacted through it (all true if consent
    checks are off)."""
    out = {}
    for ch in dict.fromkeys(channels):
        col = spec.consent_column(ch)
        out[ch] = (
            np.ones(len(customers), dtype=bool)
            if col is None
            else _flag(customers, col, f"consent to be contacted by {ch}")
        )
    return out


def reason_labels(catalog: Catalog) -> tuple[str, ...]:
    """All reason texts a catalog can produce, in a fixed order (index 0 = eligible)."""
    labels = ["", "product withdrawn", "already owns the product"]
    for p in catalog.products:
        for r in p.eligibility:
            labels.append(f"not eligible: {r.describe()}")
        for r in p.suitability:
            labels.append(f"not suitable: {r.describe()}")
    channels = sorted({ch for p in catalog.products for ch in p.channels.values()})
    labels += [f"no consent for {ch}" for ch in channels]
    labels += [NO_CHANNEL, "cool-off period", "frequency cap", "contact limit"]
    return tuple(dict.fromkeys(labels))


def _rule_passes(df: pd.DataFrame, rule: Rule, product: Product) -> np.ndarray:
    if rule.field not in df.columns:
        raise SchemaError(
            f"`customers` is missing column {rule.field!r}, needed by a rule of product {product.id!r}"
        )
    s = df[rule.field]
    ok = s.notna().to_numpy().copy()
    if rule.min is not None or rule.max is not None:
        if not (pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == bool):
            raise SchemaError(
                f"`customers` column {rule.field!r} must be numeric for the min/max rule of "
                f"product {product.id!r}, got dtype {s.dtype}"
            )
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if rule.min is not None:
            ok &= v >= rule.min
        if rule.max is not None:
            ok &= v <= rule.max
    if rule.equals is not None:
        ok &= (s == rule.equals).to_numpy(dtype=bool, na_value=False)
    if rule.in_ is not None:
        ok &= s.isin(list(rule.in_)).to_numpy()
    if rule.not_in is not None:
        ok &= ~s.isin(list(rule.not_in)).to_numpy()
    return np.asarray(ok, dtype=bool)


def _flag(df: pd.DataFrame, col: str, why: str) -> np.ndarray:
    """A true/false column; a missing value is false (no consent, not owned)."""
    if col not in df.columns:
        raise SchemaError(f"`customers` column {col!r} is missing ({why})")
    s = df[col]
    if s.dtype == bool:
        return s.to_numpy()
    if s.dtype == object:
        # booleans with gaps, as read from Parquet or JSON: True/False/None
        known = s.dropna()
        if not known.map(lambda v: isinstance(v, bool | np.bool_) or v in (0, 1)).all():
            bad = known[~known.map(lambda v: isinstance(v, bool | np.bool_) or v in (0, 1))].iloc[0]
            raise SchemaError(f"`customers` column {col!r} must be boolean, got {bad!r}")
        return np.asarray(s.map(lambda v: v is True or v == 1).to_numpy(dtype=bool))
    if pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == "boolean":
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~(np.isnan(v) | (v == 0) | (v == 1))
        if bad.any():
            raise SchemaError(
                f"`customers` column {col!r} must be boolean, got {float(v[bad][0]):g}"
            )
        return np.asarray(v == 1)
    raise SchemaError(f"`customers` column {col!r} must be boolean, got dtype {s.dtype}")


def evaluate_guardrails(
    customers: pd.DataFrame,
    catalog: Catalog,
    spec: FeatureSpec,
    *,
    at: datetime,
    mode: Mode = "realtime",
    history: ContactHistory | None = None,
    check_consent: bool = True,
) -> GuardrailResult:
    """Evaluate every guardrail for every (customer, product).

    A missing value never passes a rule; "already owned" and consent columns must exist.
    With ``check_consent=False`` the product's default channel is not checked (the agent
    then checks the consent of every channel it may choose, with :func:`consent_flags`).
    """
    n, K = len(customers), len(catalog.products)
    labels = reason_labels(catalog)
    code = {label: i for i, label in enumerate(labels)}
    reason = np.zeros((n, K), dtype=np.int16)

    def block(k: int, mask: np.ndarray, label: str) -> None:
        # first blocking rule wins: only set where nothing blocked yet
        col = reason[:, k]
        col[(col == 0) & mask] = code[label]

    for k, p in enumerate(catalog.products):
        if not p.active:
            block(k, np.ones(n, dtype=bool), "product withdrawn")
            continue
        block(
            k,
            _flag(customers, p.owned_col, f"whether the customer owns {p.id!r}"),
            "already owns the product",
        )
        for r in p.eligibility:
            block(k, ~_rule_passes(customers, r, p), f"not eligible: {r.describe()}")
        for r in p.suitability:
            block(k, ~_rule_passes(customers, r, p), f"not suitable: {r.describe()}")
        consent_col = spec.consent_column(p.channels[mode]) if check_consent else None
        if consent_col is not None:
            why = f"consent to be contacted by {p.channels[mode]}"
            block(k, ~_flag(customers, consent_col, why), f"no consent for {p.channels[mode]}")
    contacts_left = np.full(n, catalog.contact_policy.max_offers, dtype=np.int64)
    if history is not None and n:
        contacts_left -= _contact_rules(customers, catalog, spec, at, history, block)
    return GuardrailResult(reason == 0, reason, labels, np.maximum(contacts_left, 0))


def contact_blocks(
    customer_ids: np.ndarray, catalog: Catalog, *, at: datetime, history: ContactHistory
) -> np.ndarray:
    """Only the contact rules (cool-off, frequency cap, contact limit) for these customers.

    Returns an (n, K) array of the first contact rule blocking each product, ``""`` where
    none does. The decision log calls it, under a per-customer lock, before it records a
    delivery.
    """
    ids = pd.Series(np.asarray(customer_ids, dtype=object).astype(str), name="customer_id")
    n, K = len(ids), len(catalog.products)
    labels = ("", "cool-off period", "frequency cap", "contact limit")
    reason = np.zeros((n, K), dtype=np.int16)

    def block(k: int, mask: np.ndarray, label: str) -> None:
        col = reason[:, k]
        col[(col == 0) & mask] = labels.index(label)

    if n:
        _contact_rules(ids.to_frame(), catalog, FeatureSpec(), at, history, block)
    return np.asarray(labels, dtype=object)[reason]


def _contact_rules(customers, catalog, spec, at, history, block) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Apply cool-off, caps and the contact limit; return each customer's recent contacts."""
    products = catalog.products
    policy = catalog.contact_policy
    ids = customers[spec.customer_id].astype(str).to_numpy()
    if isinstance(history, ContactSummaries):
        in_cool, counts, total = rule_inputs(
            history.contact_summary(ids, at, catalog), ids, catalog, at
        )
    else:
        in_cool, counts, total = _from_contacts(ids, catalog, at, history)
    cap_max = np.array(
        [
            p.frequency_cap.max_offers if p.frequency_cap else np.iinfo(np.int64).max
            for p in products
        ]
    )
    # no early return on an empty history: a cap of 0 offers blocks everyone regardless
    for k in range(len(products)):
        block(k, in_cool[:, k], "cool-off period")
        block(k, counts[:, k] >= cap_max[k], "frequency cap")
        block(k, total >= policy.max_offers, "contact limit")
    return total


def _from_contacts(
    ids: np.ndarray, catalog: Catalog, at: datetime, history: ContactHistory
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the contact rules read, straight from raw contacts (no summary: the real-time
    path, one customer at a time; :func:`~xsell.guardrails.contact_summary.rule_inputs`
    gives the same from a summary)."""
    products = catalog.products
    policy = catalog.contact_policy
    contacts = history.contacts_since(ids, since(at, catalog))
    n, K = len(ids), len(products)
    row = pd.Index(ids).get_indexer(pd.Index(contacts["customer_id"].astype(str)))
    col = pd.Index([p.id for p in products]).get_indexer(
        pd.Index(contacts["product_id"].astype(str))
    )
    at_ns = pd.Timestamp(at).tz_convert("UTC").as_unit("ns").value
    # times may come in any resolution (pandas reads datetimes as us, Parquet as ms ...)
    contact_ns = (
        pd.to_datetime(contacts["at"], utc=True).dt.as_unit("ns").astype("int64").to_numpy()
    )
    age_days = (at_ns - contact_ns) / 86_400e9
    keep = (row >= 0) & (age_days >= 0)
    row, col, age_days = row[keep], col[keep], age_days[keep]
    # catalog-wide limit counts contacts for any product, known to the catalog or not
    total = np.bincount(row[age_days < policy.period_days], minlength=n)
    known = col >= 0
    row, col, age_days = row[known], col[known], age_days[known]
    cool = np.array([p.cool_off_days for p in products])
    cap_period = np.array(
        [p.frequency_cap.period_days if p.frequency_cap else 0.0 for p in products]
    )
    in_cool = np.zeros((n, K), dtype=bool)
    in_cool[row[age_days < cool[col]], col[age_days < cool[col]]] = True
    counts = np.zeros((n, K), dtype=np.int64)
    within = age_days < cap_period[col]
    np.add.at(counts, (row[within], col[within]), 1)
    return in_cool, counts, total
