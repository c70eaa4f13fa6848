"""xsell's own agents as arena contenders: the same ``Agent.act``/``Agent.update`` as production."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xsell.agent import Agent
from xsell.policies.base import Policy
from xsell.simulation.contenders.base import Offers, Setup

__all__ = ["XsellAgent"]


class XsellAgent:
    """An :class:`xsell.Agent` behind the arena's interface.

    The agent reads the arena's contact history for its caps and cool-off (as it reads the
    decision log in production) and never records contacts itself: the arena records a
    contact when the offer is delivered. Its features are fitted on the customer base.

    Parameters
    ----------
    setup
        The world and seed.
    name
        Name in the results.
    policy, model, model_params, half_life, prior
        As for :class:`xsell.Agent`.
    hold_conversions
        Learn each decision when its observation window closes, conversions included
        (default), as xsell's learner does; ``False`` learns a conversion as soon as it is
        reported, which biases a young campaign's estimates upward.
    """

    def __init__(
        self,
        setup: Setup,
        *,
        name: str = "xsell",
        policy: Policy | None = None,
        model: str = "bayes_logistic",
        model_params: dict[str, Any] | None = None,
        half_life: float | None = None,
        hold_conversions: bool = True,
        **agent_params: Any,
    ) -> None:
        self.name = name
        self.hold_conversions = hold_conversions
        self.window = pd.to_timedelta(
            setup.world.get("window_days", [0.0] * len(setup.catalog.products)), unit="D"
        )
        self._held: list[pd.DataFrame] = []
        self.agent = Agent(
            setup.catalog,
            setup.feature_spec,
            policy=policy,
            model=model,
            model_params=model_params,
            seed=setup.seed,
            history=setup.history,
            record_contacts=False,
            half_life=half_life,
            pending_capacity=1_000_000,
            **agent_params,
        )
        self.agent.fit_features(setup.reference)
        self._codes = pd.Index(setup.catalog.product_ids)

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Decide with the agent (its own guardrails give the same verdict as ``eligible``)."""
        decided = self.agent.act(customers, at=at)
        action = self._codes.get_indexer(pd.Index(decided["product"].astype(object)))
        return Offers(
            action.astype(np.int64),
            decided["probability"].to_numpy(dtype=np.float64),
            decided["explored"].to_numpy(dtype=bool),
            decided["decision_id"].astype(str).to_numpy(dtype=object),
        )

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learn conversions and opt-outs by decision id.

        With ``hold_conversions`` an early conversion is learned only when its decision's
        observation window closes, together with the silent decisions of its time: learning
        positives days before the negatives they should be weighed against biases every
        estimate upward while a campaign is young.
        """
        rows = feedback[["decision_id", "conversion", "opt_out", "decided_at", "product_index"]]
        if self.hold_conversions:
            rows = pd.concat([*self._held, rows], ignore_index=True) if self._held else rows
            closes = rows["decided_at"] + self.window[rows["product_index"].to_numpy()].to_numpy()
            ready = (closes <= at).to_numpy()
            self._held = [rows[~ready]] if (~ready).any() else []
            rows = rows[ready]
        if len(rows):
            self.agent.update(rows[["decision_id", "conversion", "opt_out"]], at=at)
