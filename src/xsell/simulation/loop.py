"""The closed loop on a simulated bank: decide, observe the response, learn, repeat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xsell.agent import Agent
from xsell.simulation.bank import SampleBank

__all__ = ["Round", "run_rounds"]

ONE_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Round:
    """What happened in one round (a day, an hour) of the loop."""

    index: int
    at: pd.Timestamp
    customers: int
    offers: int
    conversions: int
    value: float
    explored: float
    model_version: int


def run_rounds(
    agent: Agent,
    bank: SampleBank,
    *,
    rounds: int,
    customers_per_round: int,
    start: object = "2026-01-05T09:00:00Z",
    step: pd.Timedelta = ONE_DAY,
    learn: bool = True,
    on_round: Callable[[Round, pd.DataFrame], None] | None = None,
) -> list[Round]:
    """Run ``rounds`` rounds of new customers through ``agent`` on ``bank``.

    Round ``r`` decides customers ``r·n .. (r+1)·n - 1`` at ``start + r·step``; the bank's
    response depends only on the customer, the time and the product, so two agents run
    on the same bank meet the same customers with the same luck (common random numbers).
    Outcomes are learned at the end of each round when ``learn`` is true.

    Examples
    --------
    >>> import xsell
    >>> agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=1)
    >>> out = run_rounds(agent, xsell.SampleBank(seed=1), rounds=2, customers_per_round=100)
    >>> [r.model_version for r in out]
    [1, 2]
    """
    values = {p.id: p.value.amount for p in bank.catalog.products}
    t0 = pd.Timestamp(start)  # type: ignore[arg-type]
    out = []
    for r in range(rounds):
        at = t0 + r * step
        customers = bank.customers(customers_per_round, start=r * customers_per_round)
        decided = agent.act(customers, at=at)
        converted = bank.respond(customers, decided["product"].tolist(), at)
        value = decided["product"].astype(object).map(values).fillna(0.0).to_numpy(dtype=np.float64)
        if learn:
            agent.update(decided.assign(conversion=converted))
        result = Round(
            index=r,
            at=at,
            customers=len(customers),
            offers=int(decided["product"].notna().sum()),
            conversions=int(converted.sum()),
            value=float((value * converted).sum()),
            explored=float(decided["explored"].mean()),
            model_version=agent.model_version,
        )
        out.append(result)
        if on_round is not None:
            on_round(result, decided)
    return out
