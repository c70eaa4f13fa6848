"""``Agent.act_records`` (the service's path, without pandas) decides exactly as ``Agent.act``.

Two agents built alike, one fed DataFrames and one fed the same customers as JSON records,
must return the same decisions (ids, products, probabilities, drivers, blocked products),
the same model inputs, explanations and log rows, and raise the same errors. The records
include what the service receives: missing values, unseen categories, whole numbers for
decimals, integer ids, customers whose products are blocked, and customers whose contact
history triggers cool-off periods, caps and the contact limit.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import Agent
from xsell.decisions import decision_records
from xsell.features.records import CustomerRecords
from xsell.store.rows import decision_rows, pending_inputs, protected_rows

AT = pd.Timestamp("2026-03-02T10:00:00Z")


def _records(n: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    df = xsell.make_customers(n, seed=seed, start=start)
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
    return out


def _history() -> xsell.InMemoryContactHistory:
    """Contacts of customers C00000000..C00000059 in the weeks before ``AT``."""
    h = xsell.InMemoryContactHistory()
    rng = np.random.default_rng(3)
    products = xsell.Catalog.sample().product_ids
    rows = []
    for i in range(60):
        for _ in range(int(rng.integers(1, 5))):
            rows.append(
                {
                    "customer_id": f"C{i:08d}",
                    "product_id": products[int(rng.integers(len(products)))],
                    "channel": "app",
                    "at": AT - pd.Timedelta(days=float(rng.uniform(0.5, 40))),
                }
            )
    h.record(pd.DataFrame(rows))
    return h


def _agent(choose_channel: bool = False) -> Agent:
    """A fitted agent that has learned from 1,500 outcomes (so it explores)."""
    agent = Agent(
        xsell.Catalog.sample(),
        xsell.sample_feature_spec(),
        seed=11,
        history=_history(),
        record_contacts=False,
        choose_channel=choose_channel,
    )
    agent.fit_features(xsell.make_customers(1_000, seed=2))
    train = xsell.make_customers(3_000, seed=4, start=10_000)
    decided = agent.act(train, at=AT - pd.Timedelta(days=60))
    offered = decided[decided["product"].notna()].head(1_500)
    conversion = (np.arange(len(offered)) % 7 == 0).astype(int)
    agent.update(
        offered[["decision_id"]].assign(conversion=conversion), at=AT - pd.Timedelta(days=30)
    )
    return agent


def _edge_cases(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mangle a share of the records the way real requests come in."""
    out = [dict(r) for r in records]
    for i, r in enumerate(out):
        kind = i % 20 if i % 50 != 8 else 8
        if kind == 1:
            r["income"] = None  # missing number (imputed; alone in a request: pandas' error)
            r["propensity_mortgage"] = None
        elif kind == 2:
            r["segment"] = "never-seen-before"  # unseen category
            r["region"] = None
        elif kind == 3:
            r["owns_savings_account"] = True  # blocked: owned
            r["age"] = 17  # blocked: under 18, and an int where the reference had floats
            r["consent_app"] = False
        elif kind == 4:
            r["credit_band"] = "E"  # blocked: unsuitable
            r["debt_to_income"] = 0.9
        elif kind == 5:
            del r["tenure_months"]  # absent key: missing value
        elif kind == 6:
            r["gender"] = None  # protected attribute missing
        elif kind == 7:
            r["consent_email"] = None  # null consent: pandas reads an object column
        elif kind == 8:  # (rarely: a batch mixing it with true/false is refused)
            r["owns_current_account"] = 1  # 0/1 for a boolean: pandas' int64 (or object) path
    return out


def _same(a: Any, b: Any) -> bool:
    """Equality that holds NaN equal to NaN (driver contributions are NaN when absent)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) and a == b)


def _compare(
    by_frame: Agent,
    by_records: Agent,
    batch: list[dict[str, Any]],
    seen: set[str] | None = None,
    **kwargs: Any,
) -> str:
    """Decide ``batch`` both ways and assert every output (or the error) matches; how the
    records were read: ``"numpy"``, ``"pandas"``, or ``"error"``."""
    frame = pd.DataFrame.from_records(batch)
    try:
        expected = by_frame.act(frame, at=AT, **kwargs)
    except xsell.XsellError as exc:
        with pytest.raises(type(exc)) as raised:
            by_records.act_records(batch, at=AT, **kwargs)
        assert str(raised.value) == str(exc)
        return "error"
    got = by_records.act_records(batch, at=AT, **kwargs)
    want = decision_records(expected)
    assert len(got) == len(want)
    for g, w in zip(got.decisions, want, strict=True):
        assert _same(g, w), (g, w)
    assert _same(got.inputs, pending_inputs(by_frame, want))
    assert by_records.explain_records(got) == by_frame.explain(expected).tolist()
    ids = got.decision_ids
    rows = decision_rows(
        got.decisions, got.inputs, by_records, traffic_group="t", reward_rules_version="r"
    )
    rows_frame = decision_rows(
        want, pending_inputs(by_frame, want), by_frame, traffic_group="t", reward_rules_version="r"
    )
    assert _same(rows, rows_frame)
    assert _same(
        protected_rows(got, by_records, None, ids),
        protected_rows(expected, by_frame, frame, ids),
    )
    if seen is not None:  # what the decisions showed, to know the comparison covered it
        for d in got.decisions:
            seen.update(v for k, v in d.items() if k.startswith("blocked_") and v)
            seen.add(f"rank {d['rank']}")
            seen.add("explored" if d["explored"] else "greedy")
            seen.add("no offer" if d["product"] is None else "offer")
    return "numpy" if isinstance(got.customers, CustomerRecords) else "pandas"


@pytest.mark.parametrize("choose_channel", [False, True])
def test_records_decide_exactly_as_dataframes(choose_channel: bool) -> None:
    by_frame, by_records = _agent(choose_channel), _agent(choose_channel)
    customers = _edge_cases(_records(400, seed=9))
    sizes = [1, 1, 1, 2, 3, 1, 5, 1, 8, 1, 13, 1, 1, 4, 1, 2, 1, 1, 30, 1]
    ways: dict[str, int] = {"numpy": 0, "pandas": 0, "error": 0}
    seen: set[str] = set()
    start = calls = 0
    while start < len(customers):
        size = sizes[calls % len(sizes)]
        batch = customers[start : start + size]
        kwargs: dict[str, Any] = {
            "top_n": [1, 1, 2, 3][calls % 4],
            "mode": "batch" if calls % 5 == 4 else "realtime",
            "placement": f"p{calls % 3}",
        }
        ways[_compare(by_frame, by_records, batch, seen, **kwargs)] += 1
        start += size
        calls += 1
    # most requests are read without pandas; null flags and 0/1 booleans go to pandas (which
    # refuses 0/1 mixed with true/false, and a lone customer's null number)
    assert ways["numpy"] > 2 * (ways["pandas"] + ways["error"]), ways
    assert ways["pandas"] > 0 and ways["error"] > 0
    # ... and the decisions compared had every kind of block, ranked lists and exploration
    blocks = {"already owns the product", "cool-off period", "frequency cap", "contact limit"}
    assert blocks | {"rank 3", "explored", "greedy", "no offer", "offer"} <= seen, seen
    assert any(b.startswith("not eligible") for b in seen)
    assert any(b.startswith("not suitable") for b in seen)


def test_integer_ids_and_whole_numbers_are_read_as_pandas_reads_them() -> None:
    by_frame, by_records = _agent(), _agent()
    batch = _records(6, seed=5)
    for i, r in enumerate(batch):
        r["customer_id"] = 1_000 + i
        r["travel_trips_12m"] = int(r["travel_trips_12m"])
        r["income"] = round(r["income"])
    assert _compare(by_frame, by_records, batch, top_n=2) == "numpy"


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        # a column the model reads is missing from every record
        (lambda b: [r.pop("age") for r in b], xsell.SchemaError),
        (lambda b: b[1].update(propensity_forex_account=1.5), xsell.InputError),
        (lambda b: b[1].update(age="old"), xsell.SchemaError),
        (lambda b: b[1].update(customer_id=None), xsell.InputError),
        (lambda b: b[1].update(owns_mortgage="yes"), xsell.SchemaError),
        (lambda b: [r.pop("gender") for r in b], xsell.InputError),  # protected, at record
    ],
)
def test_bad_records_raise_what_act_raises(mangle: Any, error: type[Exception]) -> None:
    by_frame, by_records = _agent(), _agent()
    batch = _records(3, seed=6)
    mangle(batch)
    frame = pd.DataFrame.from_records(batch)
    with pytest.raises(error) as from_frame:
        decided = by_frame.act(frame, at=AT)
        protected_rows(decided, by_frame, frame, decided["decision_id"].tolist())
    with pytest.raises(error) as from_records:
        got = by_records.act_records(batch, at=AT)
        protected_rows(got, by_records, None, got.decision_ids)
    assert str(from_records.value) == str(from_frame.value)


def test_duplicated_ids_raise_what_act_raises() -> None:
    by_frame, by_records = Agent(xsell.Catalog.sample(), xsell.sample_feature_spec()), _agent()
    by_frame.fit_features(xsell.make_customers(1_000, seed=2))
    batch = _records(3, seed=6)
    batch[2]["customer_id"] = batch[0]["customer_id"]
    with pytest.raises(xsell.InputError) as from_frame:
        by_frame.act(pd.DataFrame.from_records(batch), at=AT)
    with pytest.raises(xsell.InputError) as from_records:
        by_records.act_records(batch, at=AT)
    assert str(from_records.value) == str(from_frame.value)
