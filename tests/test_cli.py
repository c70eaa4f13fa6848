"""The command line: the main jobs run end to end; bad input exits with code 2."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

import xsell
from xsell.cli import app
from xsell.store import ModelRegistry, make_engine
from xsell.store.tables import Decision

runner = CliRunner()


def test_run_serves_a_simulated_bank_and_prints_the_versions(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    args = ["--days", "2", "--visitors", "150", "--per-request", "50", "--start", "2099-03-02"]
    result = runner.invoke(app, ["run", *args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    days = re.findall(r"^\s+(\d+)\s+\d+\s+\d+.*\s(v\d+)\s+\d+\s+\d+$", result.output, re.M)
    engine = make_engine(f"sqlite:///{db}")
    latest = ModelRegistry(engine).latest()
    with engine.connect() as conn:
        decided = conn.execute(select(func.count()).select_from(Decision)).scalar_one()
        first = conn.execute(select(func.min(Decision.at))).scalar_one()
    engine.dispose()
    # day 1 is answered by version 0, day 2 by what was learned at the end of day 1
    assert days == [("1", "v0"), ("2", "v1")]
    assert latest is not None and latest >= 1
    assert f"Model: version 0 → {latest}" in result.output
    assert decided > 0 and pd.Timestamp(first).date().isoformat() == "2099-03-02"


def test_compare_decides_learns_and_saves(tmp_path: Path) -> None:
    out = tmp_path / "agent.npz"
    result = runner.invoke(
        app, ["compare", "--days", "3", "--customers-per-day", "400", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "propensity-greedy" in result.output and "explained" in result.output
    loaded = xsell.Agent.load(str(out))
    assert loaded.model_version == 3


def test_bad_arguments_exit_with_code_2(tmp_path: Path) -> None:
    db = str(tmp_path / "never.db")
    for args, needle in [
        (["compare", "--days", "0"], "--days"),
        (["compare", "--policy", "magic"], "unknown policy 'magic'"),
        (["compare", "--customers-per-day", "-5"], "--customers-per-day"),
        (["run", "--days", "0", "--db", db], "--days"),
        (["run", "--visitors", "0", "--db", db], "--visitors"),
        (["run", "--per-request", "1001", "--db", db], "--per-request"),
        (["run", "--start", "yesterday-ish", "--db", db], "--start"),
        (["run", "--start", "2020-01-01", "--db", db], "`start` must be at most 14 days ago"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output
    assert not Path(db).exists()


def test_check_catalog(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(xsell.Catalog.sample().to_dict()))
    ok = runner.invoke(app, ["check-catalog", str(good)])
    assert ok.exit_code == 0 and "8 products OK" in ok.output
    data = xsell.Catalog.sample().to_dict()
    data["products"][7]["value"]["currency"] = "euro"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["check-catalog", str(bad)])
    assert result.exit_code == 2
    assert "product 'mortgage', field 'value.currency'" in result.output
