"""The command line: the main job runs end to end; bad input exits with code 2."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

import xsell
from xsell.cli import app

runner = CliRunner()


def test_run_decides_learns_and_saves(tmp_path: Path) -> None:
    out = tmp_path / "agent.npz"
    result = runner.invoke(
        app, ["run", "--days", "3", "--customers-per-day", "400", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "propensity-greedy" in result.output and "explained" in result.output
    loaded = xsell.Agent.load(str(out))
    assert loaded.model_version == 3


def test_bad_arguments_exit_with_code_2() -> None:
    for args, needle in [
        (["run", "--days", "0"], "--days"),
        (["run", "--policy", "magic"], "unknown policy 'magic'"),
        (["run", "--customers-per-day", "-5"], "--customers-per-day"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output


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
