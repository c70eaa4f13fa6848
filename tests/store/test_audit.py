"""The fairness audit reads the restricted protected attributes and counts what the log holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import xsell
from tests.store.conftest import T0, World
from xsell.cli import app
from xsell.store.audit import FOUR_FIFTHS, fairness_audit


def test_the_audit_counts_decisions_offers_contacts_and_outcomes_by_group(world: World) -> None:
    customers = xsell.make_customers(60, seed=5).set_index("customer_id")
    delivered = world.deliver_all()  # every offer delivered; 7 of them convert
    world.log.record_events(
        [
            {
                "decision_id": d,
                "type": "conversion",
                "idempotency_key": f"c-{d}",
                "at": T0 + timedelta(hours=1),
            }
            for d in delivered[:7]
        ]
    )
    world.learner().run_until_idle(now=T0 + timedelta(days=1))
    audit = fairness_audit(world.log.engine).set_index(["attribute", "group"])

    d = world.decisions.assign(
        gender=world.decisions["customer_id"].map(customers["gender"]).fillna("(missing)"),
        offered=world.decisions["product"].notna(),
    )
    expected = d.groupby("gender").agg(decisions=("offered", "size"), offers=("offered", "sum"))
    got = audit.loc["gender"]
    assert sorted(got.index) == sorted(expected.index)
    for group, row in expected.iterrows():
        assert got.loc[group, "decisions"] == row["decisions"]
        assert got.loc[group, "offers"] == row["offers"]
        assert got.loc[group, "contacts"] == row["offers"]  # every offer was delivered
    assert got["conversions"].sum() == 7
    assert got["learned"].sum() == 7  # conversions close their windows at once
    rate = got["offers"] / got["decisions"]
    np.testing.assert_allclose(got["offer_rate"], rate)
    np.testing.assert_allclose(got["offer_rate_ratio"], rate / rate.max())
    assert (got["flagged"] == (rate / rate.max() < FOUR_FIFTHS)).all()


def test_the_audit_leaves_out_the_control_group_and_other_times(world: World) -> None:
    customers = xsell.make_customers(60, seed=5)
    later = T0 + timedelta(days=3)
    held = world.agent.act(customers, at=later, placement="held")
    world.log.record_decisions(held, world.agent, customers=customers, traffic_group="control")
    everything = fairness_audit(world.log.engine)
    assert everything["decisions"].sum() == len(world.decisions)  # the control group is not
    assert fairness_audit(world.log.engine, since=later)["decisions"].sum() == 0
    assert fairness_audit(world.log.engine, until=T0).empty
    assert list(fairness_audit(world.log.engine, until=T0).columns) == list(everything.columns)
    assert isinstance(everything, pd.DataFrame)


def test_xsell_audit_prints_the_table_and_refuses_a_bad_time(world: World, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    args = ["audit", "--database-url", world.url, "--csv", str(out)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert "Fairness audit" in text and "gender" in text
    written = pd.read_csv(out)
    assert written["decisions"].sum() == len(world.decisions)
    bad = CliRunner().invoke(app, [*args, "--since", "yesterday"])
    assert bad.exit_code == 2 and "`since`" in bad.output
    empty = CliRunner().invoke(app, [*args, "--since", "2099-01-01T00:00:00Z"])
    assert empty.exit_code == 0 and "no decisions" in empty.output
