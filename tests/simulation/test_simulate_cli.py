"""``xsell simulate``: writes metrics, plots and a report; bad arguments exit with code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xsell.cli import app

runner = CliRunner()


def test_simulate_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "bank"
    args = ["simulate", "--customers", "400", "--seeds", "2", "--jobs", "1", "--out", str(out)]
    args += ["--contenders", "oracle,xsell,propensity-greedy,no-offer"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("steps.parquet", "steps.csv", "summary.csv", "fairness.csv", "run.json"):
        assert (out / name).stat().st_size > 0, name
    for name in ("cumulative.png", "traffic.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    steps = pd.read_parquet(out / "steps.parquet")
    assert set(steps["contender"]) == {"oracle", "xsell", "propensity-greedy", "no-offer"}
    assert set(steps["seed"]) == {1001, 1002}
    pd.testing.assert_frame_equal(
        steps.drop(columns="at"),
        pd.read_csv(out / "steps.csv").drop(columns="at"),
        check_dtype=False,
    )
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "propensity-greedy" in html
    assert "purchases vs no-offer" in html
    assert "<script" not in html  # self-contained and static
    run = json.loads((out / "run.json").read_text())
    assert run["worlds"][0]["fingerprint"] and run["seeds"] == [1001, 1002]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scenario", "casino"], "unknown scenario 'casino'"),
        (["--contenders", "xsell,magic"], "unknown contender 'magic'"),
        (["--customers", "-5"], "--customers"),
        (["--seeds", "0"], "--seeds"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_arguments_exit_with_code_2(args: list[str], needle: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", *args, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not (tmp_path / "x").exists()
