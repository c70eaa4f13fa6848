"""Run a contender through a world: decide, respond late, learn, and measure each step.

Every contender meets the same customers at the same times with the same luck: each
outcome is drawn from uniforms keyed by (world seed, customer, time, product), so a
customer who would buy the travel card if offered it today buys it whichever policy made
the offer (common random numbers). What differs between contenders is only what their
own decisions change: the products customers own, the consents they withdraw, the
contacts that count against caps and cool-off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.errors import InputError
from xsell.guardrails.contact_history import InMemoryContactHistory
from xsell.guardrails.rules import evaluate_guardrails
from xsell.simulation.contenders.base import Contender, ContenderFactory, Offers, Setup
from xsell.simulation.worlds.base import World

__all__ = ["FATIGUE_DAYS", "run_contender"]

#: contacts within this many days make an offer more likely to cause an opt-out
FATIGUE_DAYS = 30.0

_DAY_NS = 86_400e9


@dataclass
class _Pending:
    """Offers of one step whose outcome the contender has not been told yet."""

    context: pd.DataFrame
    reveal: np.ndarray
    revealed: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _State:
    """What one contender's decisions have changed in its copy of the world."""

    owned: np.ndarray
    consent: np.ndarray
    awaiting_until: np.ndarray
    history: InMemoryContactHistory
    events: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list
    )  # (time, row, kind 0=owns / 1=opts out of channel, product or channel index)
    pending: list[_Pending] = field(default_factory=list)

    def apply_events(self, now: float) -> None:
        keep = []
        for t, row, kind, idx in self.events:
            due = t <= now
            if due.any():
                own = due & (kind == 0)
                self.owned[row[own], idx[own]] = True
                out = due & (kind == 1)
                self.consent[row[out], idx[out]] = False
            if not due.all():
                keep.append((t[~due], row[~due], kind[~due], idx[~due]))
        self.events = keep


def run_contender(
    world: World,
    factory: ContenderFactory,
    *,
    name: str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Run one contender through ``world`` and return its metrics, one row per step.

    Parameters
    ----------
    world
        The world (its seed fixes the customers and their luck).
    factory
        Builds the contender from a :class:`Setup` (a class taking a setup will do).
    name
        Name in the result (default: the contender's ``name``).
    on_step
        Called with the step index after each step (for progress bars).

    Returns
    -------
    pandas.DataFrame
        Per step: ``step, at, decisions, offers, conversions, value, reward,
        expected_reward, oracle_reward, regret, explored, opt_outs, purchases,
        incremental_expected`` (see :data:`xsell.simulation.metrics.METRICS`),
        ``offers_<product>`` and, per level of the first protected attribute,
        ``decisions_<g>``, ``offers_<g>``, ``conversions_<g>``.
    """
    catalog, spec = world.catalog, world.feature_spec
    products = catalog.products
    K = len(products)
    pop = world.population()
    columns = {name: pop[name].to_numpy() for name in pop.columns}
    ids = pop[spec.customer_id].astype(str).to_numpy()
    channels = sorted({c for p in products for c in (p.channels["realtime"], *p.channel_choices)})
    consent_cols = [spec.consent_column(c) for c in channels]
    state = _State(
        owned=np.column_stack([pop[p.owned_col].to_numpy(dtype=bool) for p in products]),
        consent=np.column_stack(
            [
                pop[c].to_numpy(dtype=bool) if c is not None else np.ones(len(pop), dtype=bool)
                for c in consent_cols
            ]
        ),
        awaiting_until=np.full(len(pop), -np.inf),
        history=InMemoryContactHistory(),
    )
    channel = [p.channels["realtime"] for p in products]
    channel_idx = np.array([channels.index(c) for c in channel])
    value_cost = np.array([p.opt_out_cost for p in products])
    contact_cost = np.array([catalog.contact_cost(c) for c in channel])
    delay_mean = np.array([world.response_delay_days.get(c, 1.0) for c in channel])
    exec_days = np.array(
        [world.execution_delay.get(c, pd.Timedelta(0)) / pd.Timedelta(days=1) for c in channel]
    )
    window = world.window()
    group_col = spec.protected[0] if spec.protected else None
    groups = sorted(pop[group_col].astype(str).unique()) if group_col else []
    start: pd.Timestamp | None = None

    contact_row: list[np.ndarray] = []
    contact_time: list[np.ndarray] = []

    def recent_contacts(rows: np.ndarray, at: pd.Timestamp) -> np.ndarray:
        if not contact_row:
            return np.zeros(len(rows))
        if len(contact_row) > 1:
            contact_row[:] = [np.concatenate(contact_row)]
            contact_time[:] = [np.concatenate(contact_time)]
        t = (at - start).value / _DAY_NS if start is not None else 0.0
        live = (contact_time[0] > t - FATIGUE_DAYS) & (contact_time[0] <= t)
        counts = np.bincount(contact_row[0][live], minlength=len(ids))
        return np.asarray(counts[rows], dtype=np.float64)

    def true_values(customers: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
        rows = pd.Index(ids).get_indexer(pd.Index(customers[spec.customer_id].astype(str)))
        return _expected_rewards(world, customers, at, recent_contacts(rows, at))[0]

    def _expected_rewards(
        w: World, customers: pd.DataFrame, at: pd.Timestamp, recent: np.ndarray
    ) -> tuple[np.ndarray, Any, np.ndarray]:
        truth = w.truth(customers, at)
        opt_out = np.minimum(1.0, truth.opt_out * (1.0 + w.fatigue * recent[:, None]))
        ev = truth.convert * truth.value - opt_out * value_cost - contact_cost
        return ev, truth, opt_out

    setup = Setup(
        catalog=catalog,
        feature_spec=spec,
        seed=world.seed,
        reference=pop,
        history=state.history,
        true_values=true_values,
        world=world.info(),
    )
    contender: Contender = factory(setup)
    label = str(name or getattr(contender, "name", type(contender).__name__))
    out: list[dict[str, Any]] = []
    for step in world.steps():
        at = step.at
        if start is None:
            start = at
        now = (at - start).value / _DAY_NS
        state.apply_events(now)
        feedback = _due_feedback(state, now)
        if feedback is not None:
            contender.update(feedback, at)
        rows = step.rows
        view = {name: values[rows] for name, values in columns.items()}
        for k, p in enumerate(products):
            view[p.owned_col] = state.owned[rows, k]
        for c, col in enumerate(consent_cols):
            if col is not None:
                view[col] = state.consent[rows, c]
        view["awaiting_response"] = state.awaiting_until[rows] > now
        customers = world.observe(pd.DataFrame(view, index=pop.index[rows]), at)
        guard = evaluate_guardrails(customers, catalog, spec, at=at, history=state.history)
        eligible = guard.eligible
        offers = contender.act(customers, eligible, at)
        action = _check_offers(offers, eligible, label)
        n = len(rows)
        recent = recent_contacts(rows, at)
        ev, truth, opt_out_p = _expected_rewards(world, customers, at, recent)
        # the oracle's (myopic) best: no offer is worth 0
        oracle = np.max(np.where(eligible, ev, 0.0), axis=1, initial=0.0)
        offered = action >= 0
        r = np.arange(n)
        a = np.where(offered, action, 0)
        keys = hash_keys(ids[rows], at.value, "outcome")
        u = np.stack([keyed_uniform(world.seed, keys, j) for j in range(4 * K)], axis=1)
        u_buy, u_delay, u_opt, u_value = (
            u[:, :K],
            u[:, K : 2 * K],
            u[:, 2 * K : 3 * K],
            u[:, 3 * K :],
        )
        offer_mat = np.zeros((n, K), dtype=bool)
        offer_mat[r[offered], a[offered]] = True
        not_owned = ~state.owned[rows]
        buys = not_owned & (u_buy < np.where(offer_mat, truth.convert, truth.organic))
        delay = -np.log1p(-u_delay) * delay_mean  # days after contact
        buy_time = np.where(offer_mat, now + exec_days + delay, now + u_delay * window)
        converted = offered & buys[r, a] & (delay[r, a] <= window[a])
        opted_out = offered & (u_opt[r, a] < opt_out_p[r, a])
        value = np.where(converted, world.realized_value(truth, u_value)[r, a], 0.0)
        reward = (
            value
            - np.where(opted_out, value_cost[a], 0.0)
            - np.where(offered, contact_cost[a], 0.0)
        )
        # state changes take effect when they happen, not when decided
        br, bk = np.nonzero(buys)
        events_t = [buy_time[br, bk]]
        events_row = [rows[br]]
        events_kind = [np.zeros(len(br), dtype=np.int8)]
        events_idx = [bk]
        oo = np.flatnonzero(opted_out)
        events_t.append(now + exec_days[a[oo]] + np.minimum(delay[oo, a[oo]], 1.0))
        events_row.append(rows[oo])
        events_kind.append(np.ones(len(oo), dtype=np.int8))
        events_idx.append(channel_idx[a[oo]])
        state.events.append(
            (
                np.concatenate(events_t),
                np.concatenate(events_row),
                np.concatenate(events_kind),
                np.concatenate(events_idx),
            )
        )
        o = np.flatnonzero(offered)
        ao = a[o]
        contact_at = at + pd.to_timedelta(exec_days[ao], unit="D")
        if len(o):
            contact_row.append(rows[o])
            contact_time.append(now + exec_days[ao])
            state.history.record(
                pd.DataFrame(
                    {
                        "customer_id": ids[rows[o]],
                        "product_id": np.asarray(catalog.product_ids, dtype=object)[ao],
                        "channel": np.asarray(channel, dtype=object)[ao],
                        "at": contact_at,
                    }
                )
            )
            reveal = now + exec_days[ao] + np.where(converted[o], delay[o, ao], window[ao])
            state.awaiting_until[rows[o]] = reveal
            decision_id = (
                np.asarray(offers.decision_id)[o]
                if offers.decision_id is not None
                else np.char.add(f"{world.seed}-{step.index}-", o.astype(str)).astype(object)
            )
            state.pending.append(
                _Pending(
                    context=customers.iloc[o],
                    reveal=reveal,
                    revealed=np.zeros(len(o), dtype=bool),
                    extra={
                        "decision_id": decision_id,
                        "product": np.asarray(catalog.product_ids, dtype=object)[ao],
                        "product_index": ao,
                        "channel": np.asarray(channel, dtype=object)[ao],
                        "decided_at": np.full(len(o), at.value, dtype="datetime64[ns]"),
                        "conversion": converted[o].astype(np.int64),
                        "opt_out": opted_out[o].astype(np.int64),
                        "value": value[o],
                        "reward": reward[o],
                    },
                )
            )
        explored = (
            np.asarray(offers.explored, dtype=bool)
            if offers.explored is not None
            else np.zeros(n, dtype=bool)
        )
        chosen_ev = np.where(offered, ev[r, a], 0.0)
        row: dict[str, Any] = {
            "step": step.index,
            "at": at,
            "decisions": n,
            "offers": int(offered.sum()),
            "conversions": int(converted.sum()),
            "value": float(value.sum()),
            "reward": float(reward.sum()),
            "expected_reward": float(chosen_ev.sum()),
            "oracle_reward": float(oracle.sum()),
            "regret": float((oracle - chosen_ev).sum()),
            "explored": int(explored.sum()),
            "opt_outs": int(opted_out.sum()),
            "purchases": int(buys.sum()),
            "incremental_expected": float(
                np.where(
                    offered, (truth.convert[r, a] - truth.organic[r, a]) * truth.value[r, a], 0.0
                ).sum()
            ),
        }
        counts = np.bincount(ao, minlength=K)
        for k, p in enumerate(products):
            row[f"offers_{p.id}"] = int(counts[k])
        if group_col is not None:
            g = customers[group_col].astype(str).to_numpy()
            for level in groups:
                m = g == level
                row[f"decisions_{level}"] = int(m.sum())
                row[f"offers_{level}"] = int((m & offered).sum())
                row[f"conversions_{level}"] = int((m & converted).sum())
        out.append(row)
        if on_step is not None:
            on_step(step.index)
    result = pd.DataFrame(out)
    result.insert(0, "contender", label)
    result.insert(0, "seed", world.seed)
    return result


def _check_offers(offers: Offers, eligible: np.ndarray, name: str) -> np.ndarray:
    """The actions as an int array, or a clear error when a contender broke a guardrail."""
    if not isinstance(offers, Offers):
        raise InputError(f"contender {name!r} must return Offers, got {type(offers).__name__}")
    action = np.asarray(offers.action)
    n, K = eligible.shape
    if action.shape != (n,) or action.dtype.kind not in "iu":
        raise InputError(
            f"contender {name!r} returned `action` of shape {action.shape} and dtype "
            f"{action.dtype}; expected {n} integers"
        )
    if ((action < -1) | (action >= K)).any():
        raise InputError(f"contender {name!r} returned an action outside -1..{K - 1}")
    bad = (action >= 0) & ~eligible[np.arange(n), np.maximum(action, 0)]
    if bad.any():
        raise InputError(
            f"contender {name!r} offered a product the guardrails block "
            f"(customer row {int(np.flatnonzero(bad)[0])}); guardrails are never overridden"
        )
    return action.astype(np.int64)


def _due_feedback(state: _State, now: float) -> pd.DataFrame | None:
    """Feedback rows whose outcome is known by ``now``; fully told steps are dropped."""
    frames = []
    extras: dict[str, list[np.ndarray]] = {}
    keep = []
    for p in state.pending:
        due = (p.reveal <= now) & ~p.revealed
        if due.any():
            idx = np.flatnonzero(due)
            frames.append(p.context.iloc[idx])
            for col, values in p.extra.items():
                extras.setdefault(col, []).append(values[idx])
            p.revealed[idx] = True
        if not p.revealed.all():
            keep.append(p)
    state.pending = keep
    if not frames:
        return None
    # one concatenation per column (not one column assignment per pending step)
    context = pd.concat(frames, ignore_index=True)
    told = pd.DataFrame({col: np.concatenate(parts) for col, parts in extras.items()})
    told["decided_at"] = pd.to_datetime(told["decided_at"]).dt.tz_localize("UTC")
    return pd.concat([context.drop(columns=list(told.columns), errors="ignore"), told], axis=1)
