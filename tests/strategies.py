"""Hypothesis strategies: random catalogs, customer tables and contact histories.

Everything is generated first as plain Python data (the *truth*: ``None`` is a missing
value), and only then rendered as the objects the code under test reads: a validated
:class:`xsell.Catalog`, a customer :class:`pandas.DataFrame` whose columns get a random
but legitimate dtype (float with NaN, nullable ``Float64``/``Int64``/``boolean`` with
``pd.NA``, ``object`` with ``None``, pandas strings, categoricals, plain bool/int), and an
:class:`xsell.InMemoryContactHistory`. Reference implementations in the tests read the
plain data, never the rendered objects.

Values are drawn from small pools on purpose: rule bounds and customer values share
pools so that equality at an inclusive bound happens often, and contact ages sit on and
one second either side of the cool-off, cap and contact-policy periods.

Two knobs widen the domain to inputs that the code under test currently gets wrong
(see ``tests/property/test_guardrails.py``): ``time_units`` (the resolution of the
recorded contact times) and ``zero_limits`` (``max_offers == 0`` in a frequency cap or
the contact policy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from hypothesis import strategies as st

import xsell

__all__ = [
    "AGE_POOL",
    "BANDS",
    "BAND_DTYPES",
    "CHANNELS",
    "INCOME_POOL",
    "UNKNOWN_PRODUCTS",
    "Contact",
    "Scenario",
    "catalogs",
    "scenarios",
]

CHANNELS = ("app", "email", "sms")
BANDS = ("A", "B", "C", "D", "E")
AGE_POOL = (17, 18, 25, 30, 40, 65, 66, 80)
INCOME_POOL = (0.0, 999.99, 1000.0, 2500.5, 5000.0, 100000.0)
PRODUCT_IDS = ("p0", "p1", "p2", "p3", "p4", "card", "loan_x")
#: product ids that appear in contact histories but not in any generated catalog
UNKNOWN_PRODUCTS = ("retired", "zz_partner")
#: a customer id that appears in contact histories but never in a customer table
GHOST = "ghost"
#: contact ages in days (negative: after the decision time, so must be ignored)
AGE_DAYS = (1.0, 0.0, 2.0, 0.5, 3.0, 7.0, 7.5, 14.0, 29.0, 30.0, 31.0, 60.0, -0.5, -1.0, -30.0)
PERIODS = (30.0, 7.0, 14.0, 3.0, 60.0, 1.0, 7.5, 0.5)
COOL_OFF = (0.0, 0.0, 0.0, 0.5, 1.0, 3.0, 7.0, 7.5, 30.0)
DECISION_ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))


@dataclass(frozen=True)
class Contact:
    """One past offer: who, what, how and when (``at`` timezone-aware)."""

    customer_id: str
    product_id: str
    channel: str
    at: datetime


@dataclass
class Scenario:
    """A catalog, customers and contact history, as plain data and as rendered objects."""

    catalog_data: dict[str, Any]
    catalog: xsell.Catalog
    spec: xsell.FeatureSpec
    rows: list[dict[str, Any]]
    customers: pd.DataFrame
    contacts: list[Contact]
    contact_chunks: list[pd.DataFrame] = field(repr=False)
    at: datetime
    mode: str
    use_history: bool

    def history(self) -> xsell.InMemoryContactHistory | None:
        """A fresh contact history holding :attr:`contacts` (``None`` if not used)."""
        if not self.use_history:
            return None
        h = xsell.InMemoryContactHistory()
        for chunk in self.contact_chunks:
            h.record(chunk)
        return h


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about one time in ``n``; shrinks to False."""
    return st.sampled_from((False,) * (n - 1) + (True,))


# -- catalogs -------------------------------------------------------------------------------


@st.composite
def numeric_rules(draw: st.DrawFn, column: str, pool: tuple[float, ...]) -> dict[str, Any]:
    """A rule on a numeric column: any non-empty combination of min/max/equals/in/not_in."""
    values = st.sampled_from(pool).map(float)
    rule: dict[str, Any] = {"field": column}
    kinds = draw(
        st.sets(st.sampled_from(("min", "max", "equals", "in", "not_in")), min_size=1, max_size=3)
    )
    if "min" in kinds and "max" in kinds:
        lo, hi = sorted((draw(values), draw(values)))
        rule["min"], rule["max"] = lo, hi
    elif "min" in kinds:
        rule["min"] = draw(values)
    elif "max" in kinds:
        rule["max"] = draw(values)
    if "equals" in kinds:
        rule["equals"] = draw(values)
    if "in" in kinds:
        rule["in"] = draw(st.lists(values, min_size=1, max_size=3, unique=True))
    if "not_in" in kinds:
        rule["not_in"] = draw(st.lists(values, min_size=1, max_size=3, unique=True))
    return rule


@st.composite
def band_rules(draw: st.DrawFn) -> dict[str, Any]:
    """A rule on the categorical ``band`` column (levels may include one no customer has)."""
    levels = st.sampled_from((*BANDS, "F"))
    rule: dict[str, Any] = {"field": "band"}
    kinds = draw(st.sets(st.sampled_from(("equals", "in", "not_in")), min_size=1, max_size=2))
    if "equals" in kinds:
        rule["equals"] = draw(levels)
    if "in" in kinds:
        rule["in"] = draw(st.lists(levels, min_size=1, max_size=3, unique=True))
    if "not_in" in kinds:
        rule["not_in"] = draw(st.lists(levels, min_size=1, max_size=3, unique=True))
    return rule


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    """A rule on ``age``, ``income`` or ``band``, sometimes with a custom reason text."""
    rule = draw(
        st.one_of(
            numeric_rules("age", tuple(float(a) for a in AGE_POOL)),
            numeric_rules("income", INCOME_POOL),
            band_rules(),
        )
    )
    if draw(one_in(6)):
        rule["reason"] = draw(st.sampled_from(("must be an adult", "income too low", "risk band")))
    return rule


@st.composite
def products(draw: st.DrawFn, pid: str, *, zero_limits: bool, gated: bool) -> dict[str, Any]:
    """One product as catalog data (without eligibility/suitability rules unless ``gated``)."""
    n_eligibility = draw(st.sampled_from((0, 0, 1, 1, 2))) if gated else 0
    n_suitability = draw(st.sampled_from((0, 0, 0, 1))) if gated else 0
    p: dict[str, Any] = {
        "id": pid,
        "name": f"Product {pid}",
        "category": draw(st.sampled_from(("cards", "loans", "savings"))),
        "value": {"amount": draw(st.sampled_from((10.0, 50.0, 250.0))), "currency": "EUR"},
        "channels": {
            "realtime": draw(st.sampled_from(CHANNELS)),
            "batch": draw(st.sampled_from(CHANNELS)),
        },
        "eligibility": [draw(rules()) for _ in range(n_eligibility)],
        "suitability": [draw(rules()) for _ in range(n_suitability)],
        "cool_off_days": draw(st.sampled_from(COOL_OFF)),
        "active": draw(st.sampled_from((True, True, True, True, True, False))),
    }
    if draw(st.sampled_from((True, True, False))):
        p["frequency_cap"] = {
            "max_offers": draw(st.sampled_from((1, 2, 1, 3, 0) if zero_limits else (1, 2, 1, 3))),
            "period_days": draw(st.sampled_from(PERIODS)),
        }
    if draw(one_in(4)):
        p["owned_column"] = f"has_{pid}"
    return p


@st.composite
def catalog_data(
    draw: st.DrawFn, *, zero_limits: bool = False, gated: bool = True
) -> dict[str, Any]:
    """A catalog of 2-5 products as plain data (what ``Catalog.from_dict`` reads)."""
    ids = draw(st.lists(st.sampled_from(PRODUCT_IDS), min_size=2, max_size=5, unique=True))
    return {
        "name": "random",
        "products": [draw(products(pid, zero_limits=zero_limits, gated=gated)) for pid in ids],
        "contact_policy": {
            "max_offers": draw(
                st.sampled_from((3, 1, 2, 4, 5, 0) if zero_limits else (3, 1, 2, 4, 5))
            ),
            "period_days": draw(st.sampled_from(PERIODS)),
        },
    }


def catalogs(*, zero_limits: bool = False) -> st.SearchStrategy[xsell.Catalog]:
    """Validated random catalogs."""
    return catalog_data(zero_limits=zero_limits).map(xsell.Catalog.from_dict)


# -- customers ------------------------------------------------------------------------------


def owned_column(product: dict[str, Any]) -> str:
    """The customer column saying the customer owns the product (plain-data version)."""
    return product.get("owned_column") or f"owns_{product['id']}"


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, missing (``None``) one time in eight."""
    return one_in(8).flatmap(lambda missing: st.none() if missing else values)


def _flag_series(draw: st.DrawFn, values: list[bool | None]) -> pd.Series:
    has_missing = any(v is None for v in values)
    choices = ["float", "boolean"] + ([] if has_missing else ["bool", "int"])
    kind = draw(st.sampled_from(choices))
    if kind == "float":
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype=float)
    if kind == "boolean":
        return pd.Series([pd.NA if v is None else v for v in values], dtype="boolean")
    if kind == "bool":
        return pd.Series(values, dtype=bool)
    return pd.Series([int(bool(v)) for v in values], dtype="int64")


def _numeric_series(draw: st.DrawFn, values: list[float | None], *, integral: bool) -> pd.Series:
    has_missing = any(v is None for v in values)
    choices = ["float", "Float64"]
    if integral:
        choices += ["Int64"] + ([] if has_missing else ["int64"])
    kind = draw(st.sampled_from(choices))
    if kind == "float":
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype=float)
    if kind in ("Float64", "Int64"):
        return pd.Series([pd.NA if v is None else v for v in values], dtype=kind)
    return pd.Series(values, dtype="int64")


BAND_DTYPES = ("object", "str", "category")


def _band_series(
    draw: st.DrawFn, values: list[str | None], dtypes: tuple[str, ...] = BAND_DTYPES
) -> pd.Series:
    kind = draw(st.sampled_from(dtypes))
    if kind == "object":
        return pd.Series(values, dtype=object)
    if kind == "str":
        return pd.Series(values, dtype="str")
    return pd.Series(values, dtype=pd.CategoricalDtype(list(BANDS)))


@st.composite
def customer_rows(
    draw: st.DrawFn,
    data: dict[str, Any],
    *,
    min_size: int = 0,
    max_size: int = 8,
    gated: bool = True,
) -> list[dict[str, Any]]:
    """Plain customer records (``None`` = missing) with every column the catalog needs.

    Unless ``gated``, nobody owns anything and everybody consents to every channel.
    """
    n = draw(st.integers(min_size, max_size))
    digits = draw(st.booleans())  # digit-only ids may be rendered as integers
    # mostly not owned and consenting, so that the later rules are reached often
    owned = st.sampled_from((False, False, False, False, True, None) if gated else (False,))
    consents = st.sampled_from((True, True, True, True, False, None) if gated else (True,))
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "customer_id": str(100 + i) if digits else f"c{i}",
            "age": draw(_maybe(st.sampled_from(AGE_POOL))),
            "income": draw(_maybe(st.sampled_from(INCOME_POOL))),
            "band": draw(_maybe(st.sampled_from(BANDS))),
        }
        for ch in CHANNELS:
            row[f"consent_{ch}"] = draw(consents)
        for p in data["products"]:
            row[owned_column(p)] = draw(owned)
        rows.append(row)
    return rows


def render_customers(
    draw: st.DrawFn,
    rows: list[dict[str, Any]],
    columns: list[str],
    band_dtypes: tuple[str, ...] = BAND_DTYPES,
) -> pd.DataFrame:
    """The customer table, each column with a randomly chosen legitimate dtype."""
    ids = [r["customer_id"] for r in rows]
    int_ids = all(i.isdigit() for i in ids) and draw(st.booleans())
    cols: dict[str, pd.Series] = {
        "customer_id": pd.Series(
            [int(i) for i in ids] if int_ids else ids, dtype="int64" if int_ids else object
        )
    }
    for col in columns:
        values = [r[col] for r in rows]
        if col == "age":
            cols[col] = _numeric_series(draw, values, integral=True)
        elif col == "income":
            cols[col] = _numeric_series(draw, values, integral=False)
        elif col == "band":
            cols[col] = _band_series(draw, values, band_dtypes)
        else:
            cols[col] = _flag_series(draw, values)
    return pd.DataFrame(cols)


# -- contact histories ----------------------------------------------------------------------


@st.composite
def contacts(
    draw: st.DrawFn, data: dict[str, Any], customer_ids: list[str], at: datetime
) -> list[Contact]:
    """Past (and a few future) contacts of these customers and a stranger, for the catalog's
    products and some it does not know, at ages on and around every period boundary."""
    # most contacts go to the first two customers and products, so caps and limits are reached
    anyone = [*customer_ids, GHOST]
    who = st.one_of(st.sampled_from(anyone[:2]), st.sampled_from(anyone))
    pids = [p["id"] for p in data["products"]]
    what = st.one_of(st.sampled_from(pids[:2]), st.sampled_from(pids + list(UNKNOWN_PRODUCTS)))
    days = st.sampled_from(
        AGE_DAYS
        + tuple(p["cool_off_days"] for p in data["products"])
        + tuple(p["frequency_cap"]["period_days"] for p in data["products"] if "frequency_cap" in p)
        + (data["contact_policy"]["period_days"],)
    )
    ages = st.builds(
        lambda d, s: timedelta(days=d, seconds=s), days, st.sampled_from((0, 0, 0, -1, 1))
    )
    contact = st.builds(
        lambda c, p, ch, age: Contact(c, p, ch, at - age),
        who,
        what,
        st.sampled_from(CHANNELS),
        ages,
    )
    return draw(st.lists(contact, min_size=draw(st.sampled_from((4, 0, 12))), max_size=24))


def render_contacts(
    draw: st.DrawFn, items: list[Contact], time_units: tuple[str, ...]
) -> list[pd.DataFrame]:
    """Contacts as one or more tables for ``InMemoryContactHistory.record``."""
    chunks: list[pd.DataFrame] = []
    n_chunks = draw(st.integers(1, 3))
    bounds = sorted(draw(st.integers(0, len(items))) for _ in range(n_chunks - 1))
    for lo, hi in zip([0, *bounds], [*bounds, len(items)], strict=True):
        part = items[lo:hi]
        if not part:
            continue
        unit = draw(st.sampled_from(time_units))
        zone = draw(st.sampled_from(("UTC", "Europe/Amsterdam")))
        times = pd.Series(
            [pd.Timestamp(c.at).tz_convert("UTC") for c in part],
            dtype=f"datetime64[{unit}, UTC]",
        ).dt.tz_convert(zone)
        chunks.append(
            pd.DataFrame(
                {
                    "customer_id": [c.customer_id for c in part],
                    "product_id": [c.product_id for c in part],
                    "channel": [c.channel for c in part],
                    "at": times,
                }
            )
        )
    return chunks


# -- scenarios ------------------------------------------------------------------------------


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    min_customers: int = 0,
    max_customers: int = 8,
    time_units: tuple[str, ...] = ("ns",),
    zero_limits: bool = False,
    allow_no_history: bool = True,
    allow_no_consent: bool = True,
    band_dtypes: tuple[str, ...] = BAND_DTYPES,
) -> Scenario:
    """A random catalog, customers, contact history, decision time and mode.

    One scenario in three is not *gated*: no eligibility or suitability rules, nothing
    owned, every consent given; there the contact rules decide nearly everything.
    """
    gated = not draw(one_in(3))
    data = draw(catalog_data(zero_limits=zero_limits, gated=gated))
    catalog = xsell.Catalog.from_dict(data)
    consent = "consent_{channel}"
    if allow_no_consent and draw(one_in(6)):
        consent = None
    spec = xsell.FeatureSpec(
        numeric=("age", "income"), categorical=("band",), propensity=None, consent=consent
    )
    rows = draw(customer_rows(data, min_size=min_customers, max_size=max_customers, gated=gated))
    columns = ["age", "income", "band", *(f"consent_{ch}" for ch in CHANNELS)]
    columns += [owned_column(p) for p in data["products"]]
    customers = render_customers(draw, rows, columns, band_dtypes)
    base = datetime(2026, 3, 29, 0, 30, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 47)))
    at = base.astimezone(draw(st.sampled_from(DECISION_ZONES)))
    items = draw(contacts(data, [r["customer_id"] for r in rows], at))
    use_history = not (allow_no_history and draw(one_in(8)))
    return Scenario(
        catalog_data=data,
        catalog=catalog,
        spec=spec,
        rows=rows,
        customers=customers,
        contacts=items,
        contact_chunks=render_contacts(draw, items, time_units),
        at=at,
        mode=draw(st.sampled_from(("realtime", "batch"))),
        use_history=use_history,
    )
