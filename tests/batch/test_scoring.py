"""The chunk scorer: chunking, the control group and campaign capacity change nothing they
should not (no database: these are the pieces a Spark task runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import xsell
from xsell.batch import (
    CAPACITY_REASON,
    CapacityPlan,
    ContactSnapshot,
    RunContext,
    capacity_candidates,
    capacity_keys,
    score_chunk,
)
from xsell.control_group import CONTROL_REASON, ControlGroup, in_control_group

AT = pd.Timestamp("2026-01-05T02:00:00Z")


@pytest.fixture(scope="module")
def agent() -> xsell.Agent:
    """A trained agent (so Thompson sampling explores: draws matter)."""
    a = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=21)
    ref = xsell.make_customers(6_000, seed=21)
    a.fit_features(ref)
    d = a.act(ref, at=AT - pd.Timedelta(days=20), mode="batch")
    offered = d[d["product"].notna()]
    rng = np.random.default_rng(0)
    a.update(offered.assign(conversion=(rng.random(len(offered)) < 0.1).astype(int)))
    assert a.n_learned > 5_000  # past the warm-up: the policy explores
    return a


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """Customers of the nightly run."""
    return xsell.make_customers(9_000, seed=22)


@pytest.fixture(scope="module")
def history(customers: pd.DataFrame) -> ContactSnapshot:
    """Recent contacts of a third of the customers."""
    rng = np.random.default_rng(3)
    ids = customers["customer_id"].to_numpy()[rng.random(len(customers)) < 0.33]
    pids = np.array(xsell.Catalog.sample().product_ids)
    contacts = pd.DataFrame(
        {
            "customer_id": ids,
            "product_id": pids[rng.integers(0, len(pids), len(ids))],
            "at": AT - pd.to_timedelta(rng.uniform(0, 60, len(ids)), unit="D"),
        }
    )
    return ContactSnapshot.from_contacts(contacts, xsell.Catalog.sample(), AT)


def _pieces(frame: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    out, start = [], 0
    while start < len(frame):
        size = sizes[len(out) % len(sizes)]
        out.append(frame.iloc[start : start + size])
        start += size
    return out


def test_chunked_equals_unchunked_decisions_and_log_rows(
    agent: xsell.Agent, customers: pd.DataFrame, history: ContactSnapshot
) -> None:
    run = RunContext("r-chunks", AT, control=ControlGroup(0.1, salt="s1"))
    whole = score_chunk(agent, customers, run, history)
    assert whole.decisions["explored"].any(), "the policy should explore (draws matter)"
    assert (whole.decisions["blocked_mortgage"] == "cool-off period").any()
    # uneven chunks (one-row ones too), in a shuffled order, with only each chunk's
    # snapshot rows
    pieces = _pieces(customers, [2, 777, 1, 2_500, 64, 1, 3])
    order = np.random.default_rng(1).permutation(len(pieces))
    parts = {}
    for i in order:
        piece = pieces[i]
        rows = history.for_customers(piece["customer_id"].to_numpy())
        parts[i] = score_chunk(agent, piece, run, rows)
    chunked = pd.concat([parts[i].decisions for i in range(len(pieces))])
    pd.testing.assert_frame_equal(chunked, whole.decisions)
    log = pa.concat_tables([parts[i].log.decisions for i in range(len(pieces))])
    assert log.equals(whole.log.decisions)
    contacts = pa.concat_tables([parts[i].log.contacts for i in range(len(pieces))])
    assert contacts.equals(whole.log.contacts)


def test_decision_ids_depend_on_run_and_customer_only(
    agent: xsell.Agent, customers: pd.DataFrame
) -> None:
    run = RunContext("r-ids", AT)
    first = score_chunk(agent, customers.iloc[:500], run).decisions
    again = score_chunk(agent, customers.iloc[:500].iloc[::-1], run).decisions
    assert first["decision_id"].tolist() == again["decision_id"].iloc[::-1].tolist()
    other = score_chunk(agent, customers.iloc[:500], RunContext("r-ids-2", AT)).decisions
    assert not set(first["decision_id"]) & set(other["decision_id"])
    assert (first["placement"] == "r-ids").all() and (first["mode"] == "batch").all()


def test_control_group_is_stable_held_out_and_near_its_share(
    agent: xsell.Agent, customers: pd.DataFrame
) -> None:
    group = ControlGroup(0.2, salt="spring")
    a = score_chunk(agent, customers, RunContext("r-a", AT, control=group)).decisions
    b = score_chunk(
        agent, customers.iloc[::-1], RunContext("r-b", AT + pd.Timedelta(days=1), control=group)
    ).decisions
    held_a = a["traffic_group"] == "control"
    held_b = b["traffic_group"] == "control"
    assert (held_a.to_numpy() == held_b.iloc[::-1].to_numpy()).all()  # stable across runs
    n, share = len(customers), held_a.mean()
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    control = a[held_a]
    assert control["product"].isna().all() and (control["probability"] == 1.0).all()
    assert (control["p_none"] == 1.0).all()
    blocked = control[[c for c in a.columns if c.startswith("blocked_")]]
    assert (blocked != "").all(axis=1).all()  # nothing is allowed to a control customer
    assert (blocked == CONTROL_REASON).any(axis=1).mean() > 0.5  # (the rest: blocked anyway)
    assert (a.loc[~held_a, "traffic_group"] == "treatment").all()
    assert a.loc[~held_a, "product"].notna().mean() > 0.5
    # the same function the service uses, and a new salt draws a new group
    ids = customers["customer_id"].to_numpy()
    assert (in_control_group(ids, 0.2, "spring") == held_a.to_numpy()).all()
    assert (in_control_group(ids, 0.2, "autumn") != held_a.to_numpy()).any()


def test_capacity_holds_and_chunking_cannot_change_who_gets_an_offer(
    agent: xsell.Agent, customers: pd.DataFrame, history: ContactSnapshot
) -> None:
    limits = {"travel_insurance": 150, "savings_account": 400, "mortgage": 0}
    base = RunContext("r-cap", AT, control=ControlGroup(0.1, salt="s"))
    whole_plan = capacity_candidates(agent, customers, base, limits, history)
    merged = CapacityPlan.for_catalog(limits, agent.catalog)
    for piece in _pieces(customers, [1_000, 333, 4_000]):
        merged.merge(capacity_candidates(agent, piece, base, limits, history))
    assert merged.thresholds() == whole_plan.thresholds()
    thresholds = whole_plan.thresholds()
    run = RunContext("r-cap", AT, control=base.control, thresholds=thresholds)
    whole = score_chunk(agent, customers, run, history).decisions
    chunked = pd.concat(
        [score_chunk(agent, p, run, history).decisions for p in _pieces(customers, [2_048])]
    )
    pd.testing.assert_frame_equal(chunked, whole)
    counts = whole["product"].value_counts()
    uncapped = score_chunk(agent, customers, base, history).decisions["product"].value_counts()
    for pid, cap in limits.items():
        assert counts.get(pid, 0) <= cap
        if cap:
            assert uncapped.get(pid, 0) > cap, f"{pid}: the test must make the cap bind"
            # exactly `cap` customers may still be offered the product
            allowed = (whole[f"blocked_{pid}"] == "").sum()
            assert allowed == cap
    assert (whole["blocked_mortgage"] != "").all()
    assert (whole == CAPACITY_REASON).any().any()
    # the logged probabilities are the capped policy's: zero where capacity blocks
    for pid in limits:
        cut = whole[f"blocked_{pid}"] == CAPACITY_REASON
        assert (whole.loc[cut, f"p_{pid}"] == 0).all()
    # ... and exactly what act gives with that guardrail
    ids = customers["customer_id"].to_numpy(dtype=object)
    snapshot_agent = agent
    saved = snapshot_agent.history, snapshot_agent.record_contacts
    snapshot_agent.history, snapshot_agent.record_contacts = history, False
    try:
        control = base.control.mask(ids)  # type: ignore[union-attr]
        values = agent.product_values(
            customers, AT, mode="batch", blocked={CONTROL_REASON: control}
        )
        mask = thresholds.blocks(agent.catalog.product_ids, values, capacity_keys(ids, "r-cap"))
        direct = agent.act(
            customers,
            AT,
            mode="batch",
            placement="r-cap",
            blocked={CONTROL_REASON: control, CAPACITY_REASON: mask},
        )
    finally:
        snapshot_agent.history, snapshot_agent.record_contacts = saved
    np.testing.assert_array_equal(direct["probability"], whole["probability"])
    np.testing.assert_array_equal(direct["p_travel_insurance"], whole["p_travel_insurance"])


def test_snapshot_lookup_finds_exactly_the_customers_asked(history: ContactSnapshot) -> None:
    ids = history.summary["customer_id"].drop_duplicates().to_numpy()
    some = np.concatenate([ids[::7], np.array(["nobody", "C-unknown"], dtype=object)])
    rows = history.for_customers(some)
    want = history.summary[history.summary["customer_id"].isin(some)]
    pd.testing.assert_frame_equal(rows.sort_index(), want)
    with pytest.raises(xsell.InputError, match="decision time"):
        history.contact_summary(some, AT + pd.Timedelta(hours=1), xsell.Catalog.sample())
