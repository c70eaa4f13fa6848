"""Guardrails: rules applied before the policy chooses, that no learning may override.

For ``n`` customers and ``K`` products they give a boolean ``eligible`` matrix and, for
every blocked (customer, product), the first rule that blocked it, checked in this order:
withdrawn product, already owned, eligibility rules, suitability rules, channel consent,
cool-off, the product's frequency cap, the catalog-wide contact limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from xsell.catalog.product import Catalog, Mode, Product, Rule
from xsell.errors import InputError, SchemaError
from xsell.features.featurizer import duplicated_ids
from xsell.features.records import CustomerRecords, NotExact
from xsell.features.spec import FeatureSpec
from xsell.guardrails.contact_history import ContactHistory
from xsell.guardrails.contact_summary import (
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


#: a customer table: a DataFrame, or records read without pandas (see xsell.features.records)
Table = pd.DataFrame | CustomerRecords


def consent_flags(
    customers: Table, spec: FeatureSpec, channels: Sequence[str]
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
    return _constants(catalog).labels


def _reason_labels(catalog: Catalog) -> tuple[str, ...]:
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


@dataclass(frozen=True, slots=True)
class _Step:
    """One product rule, in the order rules are checked: withdrawn, owned, eligibility,
    suitability (consent is added per call: it depends on the mode)."""

    code: int
    rule: Rule | None = None
    column: str | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class _CatalogConstants:
    """What the guardrails derive from a catalog, derived once per catalog (a frozen
    object): for one customer, deriving it costs more than applying it."""

    labels: tuple[str, ...]
    code: dict[str, int]
    steps: tuple[tuple[_Step, ...], ...]
    product_ids: np.ndarray
    cool_off_days: np.ndarray
    cap_period_days: np.ndarray
    cap_max: np.ndarray


_CONSTANTS: dict[int, tuple[Catalog, _CatalogConstants]] = {}


def _constants(catalog: Catalog) -> _CatalogConstants:
    cached = _CONSTANTS.get(id(catalog))
    if cached is not None and cached[0] is catalog:
        return cached[1]
    products = catalog.products
    labels = _reason_labels(catalog)
    code = {label: i for i, label in enumerate(labels)}
    steps: list[tuple[_Step, ...]] = []
    for p in products:
        if not p.active:
            steps.append((_Step(code["product withdrawn"]),))
            continue
        owned = _Step(
            code["already owns the product"],
            column=p.owned_col,
            why=f"whether the customer owns {p.id!r}",
        )
        steps.append(
            (
                owned,
                *(_Step(code[f"not eligible: {r.describe()}"], rule=r) for r in p.eligibility),
                *(_Step(code[f"not suitable: {r.describe()}"], rule=r) for r in p.suitability),
            )
        )
    out = _CatalogConstants(
        labels=labels,
        code=code,
        steps=tuple(steps),
        product_ids=np.array([p.id for p in products], dtype=object),
        cool_off_days=np.array([p.cool_off_days for p in products]),
        cap_period_days=np.array(
            [p.frequency_cap.period_days if p.frequency_cap else 0.0 for p in products]
        ),
        cap_max=np.array(
            [
                p.frequency_cap.max_offers if p.frequency_cap else np.iinfo(np.int64).max
                for p in products
            ]
        ),
    )
    if len(_CONSTANTS) > 64:  # catalogs come and go (simulations make many): stay bounded
        _CONSTANTS.clear()
    _CONSTANTS[id(catalog)] = (catalog, out)  # the catalog is kept, so its id stays its own
    return out


def _rule_passes(df: Table, rule: Rule, product: Product) -> np.ndarray:
    if isinstance(df, CustomerRecords):
        return _record_rule_passes(df, rule)
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


def _record_rule_passes(records: CustomerRecords, rule: Rule) -> np.ndarray:
    """:func:`_rule_passes` on records: numbers against min/max, text against the rest."""
    if rule.min is not None or rule.max is not None:
        v = records.numeric(rule.field)
        ok = ~np.isnan(v)
        if rule.min is not None:
            ok &= v >= rule.min
        if rule.max is not None:
            ok &= v <= rule.max
        if rule.equals is None and rule.in_ is None and rule.not_in is None:
            return np.asarray(ok, dtype=bool)
        raise NotExact(rule.field)  # a column compared both as a number and as text
    wanted = [rule.equals, *(rule.in_ or ()), *(rule.not_in or ())]
    if not all(w is None or isinstance(w, str) for w in wanted):
        raise NotExact(rule.field)  # pandas' comparison of mixed types is the reference
    return np.array(
        [
            v is not None
            and (rule.equals is None or v == rule.equals)
            and (rule.in_ is None or v in rule.in_)
            and (rule.not_in is None or v not in rule.not_in)
            for v in records.text(rule.field)
        ],
        dtype=bool,
    )


def _flag(df: Table, col: str, why: str) -> np.ndarray:
    """A true/false column; a missing value is false (no consent, not owned)."""
    if isinstance(df, CustomerRecords):
        return df.flags(col)
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
    customers: Table,
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
    ``customers`` may also be :class:`~xsell.features.records.CustomerRecords` (read
    without pandas, or :class:`~xsell.features.records.NotExact`).
    """
    n = len(customers)
    constants = _constants(catalog)
    labels, code = constants.labels, constants.code
    # every rule's verdict in order (each product's rules together), then the first per
    # product that blocks: the same as blocking rule by rule where nothing blocked yet
    masks: list[np.ndarray] = []
    codes: list[int] = []
    starts: list[int] = []
    for p, steps in zip(catalog.products, constants.steps, strict=True):
        starts.append(len(masks))
        for step in steps:
            if step.rule is not None:
                masks.append(~_rule_passes(customers, step.rule, p))
            elif step.column is not None:
                masks.append(_flag(customers, step.column, step.why))
            else:  # withdrawn
                masks.append(np.ones(n, dtype=bool))
            codes.append(step.code)
        consent_col = spec.consent_column(p.channels[mode]) if check_consent else None
        if p.active and consent_col is not None:
            why = f"consent to be contacted by {p.channels[mode]}"
            masks.append(~_flag(customers, consent_col, why))
            codes.append(code[f"no consent for {p.channels[mode]}"])
    reason = _first_blocks(masks, codes, starts, n)

    def block_all(mask: np.ndarray, label: str) -> None:
        reason[(reason == 0) & mask] = code[label]

    contacts_left = np.full(n, catalog.contact_policy.max_offers, dtype=np.int64)
    if history is not None and n:
        contacts_left -= _contact_rules(customers, catalog, spec, at, history, block_all)
    return GuardrailResult(reason == 0, reason, labels, np.maximum(contacts_left, 0))


def _first_blocks(
    masks: list[np.ndarray], codes: list[int], starts: list[int], n: int
) -> np.ndarray:
    """(n, K) code of the first mask that blocks, per product (products' masks are
    consecutive, product k's from ``starts[k]``); 0 where none blocks."""
    K, S = len(starts), len(masks)
    if n <= _FEW:  # every rule of every product in a few NumPy calls
        if n == 0:
            return np.zeros((0, K), dtype=np.int16)
        order = np.arange(S, dtype=np.int32)[:, None]
        first = np.minimum.reduceat(np.where(np.vstack(masks), order, S), starts, axis=0)
        code = np.append(np.asarray(codes, dtype=np.int16), np.int16(0))
        return np.ascontiguousarray(code[first].T)
    reason = np.zeros((n, K), dtype=np.int16)  # many rows: rule by rule, where none blocked
    for k, (lo, hi) in enumerate(zip(starts, [*starts[1:], S], strict=True)):
        col = reason[:, k]
        for s in range(lo, hi):
            col[(col == 0) & masks[s]] = codes[s]
    return reason


_FEW = 64


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

    def block(mask: np.ndarray, label: str) -> None:
        reason[(reason == 0) & mask] = labels.index(label)

    if n:
        _contact_rules(ids.to_frame(), catalog, FeatureSpec(), at, history, block)
    return np.asarray(labels, dtype=object)[reason]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SMALL = 1_000  # ids looked up in a dict below this (pandas' index costs more to build)


def _recent_contacts(
    history: ContactHistory, ids: np.ndarray, since: datetime
) -> tuple[Sequence[str], Sequence[str], np.ndarray]:
    """Customer ids, product ids and times (ns since the epoch) of the recent contacts."""
    rows_of = getattr(history, "contact_rows", None)  # a ContactRows (isinstance is slow)
    if rows_of is not None:
        rows: list[tuple[str, str, datetime]] = rows_of(ids, since)
        ns = [
            (t if t.tzinfo else t.replace(tzinfo=UTC)) - _EPOCH for _, _, t in rows
        ]  # aware times, exactly as pandas converts them
        return (
            [str(r[0]) for r in rows],
            [str(r[1]) for r in rows],
            np.array([t // timedelta(microseconds=1) * 1_000 for t in ns], dtype=np.int64),
        )
    contacts = history.contacts_since(ids, since)
    # times may come in any resolution (pandas reads datetimes as us, Parquet as ms ...)
    ns_col = pd.to_datetime(contacts["at"], utc=True).dt.as_unit("ns").astype("int64")
    return (
        contacts["customer_id"].astype(str).tolist(),
        contacts["product_id"].astype(str).tolist(),
        ns_col.to_numpy(),
    )


def _positions(index: np.ndarray, values: Sequence[str]) -> tuple[np.ndarray, bool]:
    """Position of each value's first occurrence in ``index`` (-1 if absent), and whether
    ``index`` is free of duplicates."""
    if len(index) < _SMALL:
        lookup: dict[object, int] = {}
        for i, v in enumerate(index.tolist()):
            lookup.setdefault(v, i)
        found = np.array([lookup.get(v, -1) for v in values], dtype=np.int64)
        return found, len(lookup) == len(index)
    idx = pd.Index(index)
    wanted = np.asarray(values, dtype=object)
    if idx.is_unique:
        return np.asarray(idx.get_indexer(wanted)), True
    first = ~idx.duplicated()
    hit = idx[first].get_indexer(wanted)
    return np.where(hit >= 0, np.flatnonzero(first)[hit], -1), False


def _contact_rules(customers, catalog, spec, at, history, block) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Apply cool-off, caps and the contact limit; return each customer's recent contacts."""
    policy = catalog.contact_policy
    constants = _constants(catalog)
    n, K = len(customers), len(catalog.products)
    if isinstance(customers, CustomerRecords):
        ids = customers.ids(spec.customer_id)
    else:
        ids = customers[spec.customer_id].astype(str).to_numpy()
    summary_of = getattr(history, "contact_summary", None)  # ContactSummaries (isinstance is slow)
    if summary_of is not None:
        in_cool, counts, total = rule_inputs(summary_of(ids, at, catalog), ids, catalog, at)
    else:

        def duplicated() -> None:
            if isinstance(customers, pd.DataFrame):  # rather than decide a customer twice
                duplicated_ids(customers[spec.customer_id])

        in_cool, counts, total = _from_contacts(ids, catalog, at, history, duplicated)
    # no early return on an empty history: a cap of 0 offers blocks everyone regardless
    # every product at once: each product's first blocking rule is still the first in order
    block(in_cool, "cool-off period")
    block(counts >= constants.cap_max, "frequency cap")
    block(np.broadcast_to((total >= policy.max_offers)[:, None], (n, K)), "contact limit")
    return total


def _from_contacts(
    ids: np.ndarray,
    catalog: Catalog,
    at: datetime,
    history: ContactHistory,
    duplicated: Callable[[], None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the contact rules read, straight from raw contacts (no summary: the real-time
    path, one customer at a time; :func:`~xsell.guardrails.contact_summary.rule_inputs`
    gives the same from a summary). ``duplicated`` is called when an id is repeated."""
    policy = catalog.contact_policy
    constants = _constants(catalog)
    customer, product, contact_ns = _recent_contacts(history, ids, since(at, catalog))
    n, K = len(ids), len(catalog.products)
    row, unique = _positions(ids, customer)
    if not unique:
        duplicated()
    col, _ = _positions(constants.product_ids, product)
    at_ns = pd.Timestamp(at).tz_convert("UTC").as_unit("ns").value
    age_days = (at_ns - contact_ns) / 86_400e9
    keep = (row >= 0) & (age_days >= 0)
    row, col, age_days = row[keep], col[keep], age_days[keep]
    # catalog-wide limit counts contacts for any product, known to the catalog or not
    total = np.bincount(row[age_days < policy.period_days], minlength=n)
    known = col >= 0
    row, col, age_days = row[known], col[known], age_days[known]
    cool, cap_period = constants.cool_off_days, constants.cap_period_days
    in_cool = np.zeros((n, K), dtype=bool)
    in_cool[row[age_days < cool[col]], col[age_days < cool[col]]] = True
    counts = np.zeros((n, K), dtype=np.int64)
    within = age_days < cap_period[col]
    np.add.at(counts, (row[within], col[within]), 1)
    return in_cool, counts, total
