"""The decision log: decisions, deliveries and outcome events, recorded as they happen."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from xsell._time import Clock, as_utc, system_clock
from xsell.catalog.product import Catalog
from xsell.errors import InputError, UnknownDecisionError
from xsell.store.contacts import ConnectionContacts, insert_contacts, try_contact
from xsell.store.engine import is_postgres, make_engine, read_transaction, write_transaction
from xsell.store.rules import RewardRules
from xsell.store.tables import (
    Contact,
    CustomerLock,
    Decision,
    DecisionRequest,
    Explanation,
    OutcomeEvent,
    ProtectedAttributes,
)

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["DecisionLog", "spec_version"]

_COLUMNS = [
    *("customer_id", "rank", "at", "mode", "placement", "channel", "probability"),
    *("expected_value", "explored", "model_version"),
]


def spec_version(agent: Agent) -> str:
    """Short hash of the agent's feature specification."""
    body = json.dumps(agent.spec.to_dict(), sort_keys=True, default=str).encode()
    return hashlib.sha256(body).hexdigest()[:12]


def _str_or_none(v: Any) -> str | None:
    return None if v is None or pd.isna(v) else str(v)


class DecisionLog:
    """The system of record: every decision, contact and outcome event.

    It is also the agent's :class:`~xsell.ContactHistory`: caps and cool-off are read from
    the contacts recorded here. Build the agent with ``record_contacts=False``: an offer
    becomes a contact when it is delivered (:meth:`record_delivery`, or a delivery event),
    not when it is decided.

    Parameters
    ----------
    engine
        An engine from :func:`xsell.store.make_engine`, or a database URL.
    catalog
        The catalog whose contact rules :meth:`record_delivery` enforces.
    rules
        Reward rules (delivery events, observation windows).
    clock
        Where "now" comes from (received times, default delivery times).

    Examples
    --------
    >>> import tempfile, os
    >>> from xsell import Agent, Catalog, make_customers, sample_feature_spec
    >>> from xsell.store import DecisionLog, migrate
    >>> url = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'log.db')}"
    >>> migrate(url)
    >>> log = DecisionLog(url, catalog=Catalog.sample())
    >>> agent = Agent(log.catalog, sample_feature_spec(), history=log, record_contacts=False)
    >>> decisions = agent.act(make_customers(3, seed=1), at="2026-01-05T09:00:00Z")
    >>> log.record_decisions(decisions, agent)
    3
    >>> offered = decisions["decision_id"][decisions["product"].notna()].iloc[0]
    >>> log.record_delivery(offered, at="2026-01-05T09:00:01Z")
    True
    >>> log.record_events([{"decision_id": offered, "type": "click", "idempotency_key": "k1",
    ...                     "at": "2026-01-05T09:01:00Z"}] * 2)
    1
    >>> log.engine.dispose()
    """

    def __init__(
        self,
        engine: Engine | str | None = None,
        *,
        catalog: Catalog,
        rules: RewardRules | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)
        self.catalog = catalog
        self.rules = rules if rules is not None else RewardRules()
        self.clock: Clock = clock if clock is not None else system_clock

    def _now(self, at: object = None, name: str = "at") -> datetime:
        return as_utc(self.clock() if at is None else at, name=name).to_pydatetime()

    # -- decisions ----------------------------------------------------------------------
    def record_decisions(
        self,
        decisions: pd.DataFrame,
        agent: Agent,
        *,
        traffic_group: str = "default",
        customers: pd.DataFrame | None = None,
        explanations: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Append the decisions ``agent.act`` returned; returns how many were recorded.

        The model inputs of each offer are read from the agent's pending decisions (call
        this right after ``act``). A ``traffic_group`` column (e.g. ``control`` /
        ``treatment``) overrides ``traffic_group`` row by row. ``customers`` (the table given
        to ``act``, same index)
        supplies the protected attributes, stored apart for audits. Offers decided in a mode
        of ``rules.contact_at_decision_modes`` (batch sends) are contacts at once. A decision
        id recorded before raises :class:`InputError`: decisions are never rewritten.
        """
        if len(decisions) == 0:
            return 0
        ids = decisions["decision_id"].astype(str).tolist()
        products = [_str_or_none(p) for p in decisions["product"].astype(object)]
        offered = [i for i, p in enumerate(products) if p is not None]
        pend = agent.pending
        slots = pend.lookup([ids[i] for i in offered]) if offered else np.zeros(0, np.int64)
        inputs: dict[int, dict[str, Any]] = {}
        for i, s in zip(offered, slots.tolist(), strict=True):
            p = float(pend.P[s])
            inputs[i] = {
                "arm": int(pend.arm[s]),
                "input_x": np.ascontiguousarray(pend.X[s], dtype=np.float64).tobytes(),
                "input_e": np.ascontiguousarray(pend.E[s], dtype=np.float64).tobytes(),
                "input_p": None if np.isnan(p) else p,
            }
        labels = agent.arms.labels(agent.catalog)
        pids = list(agent.catalog.product_ids)
        prob = decisions[["p_none", *[f"p_{a}" for a in labels]]].to_numpy(dtype=np.float64)
        blocked = decisions[[f"blocked_{p}" for p in pids]].astype(object).to_numpy()
        versions = {
            "policy_version": str(agent.policy_version),
            "catalog_version": str(agent.catalog.version),
            "feature_spec_version": spec_version(agent),
            "reward_rules_version": self.rules.fingerprint,
        }
        groups = (
            decisions["traffic_group"].astype(str).tolist()
            if "traffic_group" in decisions.columns
            else [traffic_group] * len(decisions)
        )
        rows = []
        rec: Any
        for i, rec in enumerate(decisions[_COLUMNS].itertuples(index=False)):
            reasons = {p: str(r) for p, r in zip(pids, blocked[i], strict=True) if r}
            rows.append(
                {
                    "id": ids[i],
                    "at": pd.Timestamp(rec.at).to_pydatetime(),
                    "customer_id": str(rec.customer_id),
                    "rank": int(rec.rank),
                    "channel": _str_or_none(rec.channel),
                    "placement": str(rec.placement),
                    "traffic_group": groups[i],
                    "mode": str(rec.mode),
                    "product": products[i],
                    "probability": float(rec.probability),
                    "probabilities": dict(zip(["none", *labels], prob[i].tolist(), strict=True)),
                    "expected_value": float(rec.expected_value),
                    "explored": bool(rec.explored),
                    "eligible": [p for p in pids if p not in reasons],
                    "blocked": reasons,
                    "model_version": int(rec.model_version),
                    **versions,
                    **inputs.get(
                        i, {"arm": None, "input_x": None, "input_e": None, "input_p": None}
                    ),
                }
            )
        protected = self._protected_rows(decisions, agent, customers, ids)
        contacts = [
            {
                "decision_id": r["id"],
                "customer_id": r["customer_id"],
                "product": r["product"],
                "channel": r["channel"] or "",
                "at": r["at"],
                "source": "decision",
            }
            for r in rows
            if r["product"] is not None and r["mode"] in self.rules.contact_at_decision_modes
        ]
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(insert(Decision), rows)
                if protected:
                    conn.execute(insert(ProtectedAttributes), protected)
                insert_contacts(conn, contacts, self.rules)
                if explanations is not None:
                    texts = [
                        {"decision_id": i, "text": str(t)}
                        for i, t in zip(ids, explanations, strict=True)
                    ]
                    conn.execute(insert(Explanation), texts)
                if idempotency_key is not None:
                    conn.execute(
                        insert(DecisionRequest),
                        {
                            "idempotency_key": idempotency_key,
                            "created_at": self._now(),
                            "decision_ids": ids,
                        },
                    )
        except IntegrityError:
            raise InputError(
                "`decisions` repeats a decision id already in the log; decisions are "
                "append-only (record each decision once)"
            ) from None
        return len(rows)

    @staticmethod
    def _protected_rows(
        decisions: pd.DataFrame, agent: Agent, customers: pd.DataFrame | None, ids: list[str]
    ) -> list[dict[str, Any]]:
        cols = list(agent.spec.protected)
        if customers is None or not cols:
            return []
        missing = [c for c in cols if c not in customers.columns]
        if missing:
            raise InputError(f"`customers` is missing the protected columns {missing}")
        values = customers.loc[decisions.index, cols].astype(object)
        values = values.where(values.notna(), None)
        return [
            {"decision_id": i, "customer_id": str(c), "attributes": dict(zip(cols, v, strict=True))}
            for i, c, v in zip(
                ids, decisions["customer_id"], values.itertuples(index=False), strict=True
            )
        ]

    def _decisions(self, conn: Any, ids: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 5_000):
            stmt = select(Decision.id, Decision.customer_id, Decision.product, Decision.channel)
            found.update(
                (r.id, r)
                for r in conn.execute(stmt.where(Decision.id.in_(unique[start : start + 5_000])))
            )
        unknown = [i for i in unique if i not in found]
        if unknown:
            raise UnknownDecisionError(
                f"`decision_id` names {len(unknown)} decision(s) not in the log: {unknown[:5]}"
            )
        return found

    def decisions_for_key(self, idempotency_key: str) -> list[str] | None:
        """The decision ids recorded under an idempotency key, in order (``None``: none)."""
        stmt = select(DecisionRequest.decision_ids).where(
            DecisionRequest.idempotency_key == idempotency_key
        )
        with read_transaction(self.engine) as conn:
            ids = conn.execute(stmt).scalar()
        return None if ids is None else [str(i) for i in ids]

    # -- contacts -----------------------------------------------------------------------
    def record_delivery(
        self,
        decision_id: str,
        at: object = None,
        *,
        source: str = "delivered",
        enforce_caps: bool = True,
    ) -> bool:
        """Record that an offer is delivered: it becomes a contact and opens its window.

        Atomic per customer: the catalog's cool-off, frequency caps and contact limit are
        checked against the log and the contact recorded in one transaction that holds the
        customer's lock, so concurrent deliveries to one customer cannot all pass a cap.
        Returns ``False`` (and records nothing) when a rule blocks the contact; delivering
        a decision again returns ``True`` and changes nothing.
        """
        ts = self._now(at)
        with write_transaction(self.engine) as conn:
            d = self._decisions(conn, [decision_id])[decision_id]
            if d.product is None:
                raise InputError(f"`decision_id` {decision_id!r} offered nothing to deliver")
            reason = try_contact(
                conn,
                catalog=self.catalog,
                rules=self.rules,
                decision_id=decision_id,
                customer_id=d.customer_id,
                product=d.product,
                channel=d.channel or "",
                at=ts,
                source=source,
                enforce_caps=enforce_caps,
            )
        return reason == ""

    def contacts_since(self, customer_ids: np.ndarray, since: datetime) -> pd.DataFrame:
        """Contacts of these customers at or after ``since`` (the ContactHistory protocol)."""
        with read_transaction(self.engine) as conn:
            return ConnectionContacts(conn).contacts_since(customer_ids, since)

    def record(self, contacts: pd.DataFrame) -> None:
        """Refused: the log records contacts per decision, at delivery.

        Build the agent with ``record_contacts=False`` and call :meth:`record_delivery`.
        """
        raise InputError(
            "`record_contacts` must be False for an agent whose history is the decision log: "
            "contacts are recorded at delivery (DecisionLog.record_delivery)"
        )

    # -- outcome events -----------------------------------------------------------------
    def record_events(self, events: pd.DataFrame | Sequence[Mapping[str, Any]]) -> int:
        """Store outcome events; returns how many were new.

        Each event has ``decision_id``, ``type`` (one of ``rules.event_types``) and
        ``idempotency_key``, and optionally ``value``, ``at`` (event time, default now) and
        ``received_at`` (default now). An event whose key is stored already changes nothing.
        A delivery event (``rules.delivery_events``) makes its offer a contact, without a
        cap check: it happened.
        """
        records: list[Any] = (
            events.to_dict("records") if isinstance(events, pd.DataFrame) else list(events)
        )
        now = self._now()
        rows: dict[str, dict[str, Any]] = {}
        for n, e in enumerate(records):
            for col in ("decision_id", "type", "idempotency_key"):
                if _str_or_none(e.get(col)) is None:
                    raise InputError(f"`events` row {n} is missing {col!r}")
            if e["type"] not in self.rules.event_types:
                raise InputError(
                    f"`events` row {n} has type {e['type']!r}; expected one of "
                    f"{list(self.rules.event_types)}"
                )
            value = e.get("value")
            rows.setdefault(
                str(e["idempotency_key"]),
                {
                    "idempotency_key": str(e["idempotency_key"]),
                    "decision_id": str(e["decision_id"]),
                    "type": str(e["type"]),
                    "value": None if value is None or pd.isna(value) else float(value),
                    "event_at": self._now(e.get("at") or now, name="at"),
                    "received_at": self._now(e.get("received_at") or now, name="received_at"),
                },
            )
        if not rows:
            return 0
        dialect = postgresql if is_postgres(self.engine) else sqlite
        stmt = (
            dialect.insert(OutcomeEvent)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(OutcomeEvent.idempotency_key)
        )
        with write_transaction(self.engine) as conn:
            found = self._decisions(conn, [r["decision_id"] for r in rows.values()])
            new = set(conn.execute(stmt, list(rows.values())).scalars())
            deliveries = []
            for key in new:
                r = rows[key]
                d = found[r["decision_id"]]
                if d.product is not None and self.rules.is_delivery(r["type"], d.channel):
                    deliveries.append(
                        {
                            "decision_id": d.id,
                            "customer_id": d.customer_id,
                            "product": d.product,
                            "channel": d.channel or "",
                            "at": r["event_at"],
                            "source": r["type"],
                        }
                    )
            deliveries.sort(key=lambda c: (c["at"], c["decision_id"]))  # first delivery wins
            insert_contacts(
                conn, list({c["decision_id"]: c for c in reversed(deliveries)}.values()), self.rules
            )
        return len(new)

    # -- erasure and retention ------------------------------------------------------------
    def erase_customer(self, customer_id: str) -> int:
        """Delete everything the log holds on one customer; returns the decisions erased.

        Learned outcomes keep their decision id and model inputs (no customer id), so the
        model versions stay reproducible.
        """
        with write_transaction(self.engine) as conn:
            ids = select(Decision.id).where(Decision.customer_id == str(customer_id))
            n = len(conn.execute(ids).all())
            self._delete(conn, ids)
            conn.execute(delete(CustomerLock).where(CustomerLock.customer_id == str(customer_id)))
        return n

    def apply_retention(self, days: float, now: object = None) -> int:
        """Delete decisions (and their contacts, events, protected attributes) older than
        ``days``; returns how many decisions were deleted."""
        if not days > 0:
            raise InputError(f"`days` must be > 0, got {days!r}")
        cutoff = self._now(now, name="now") - timedelta(days=float(days))
        with write_transaction(self.engine) as conn:
            ids = select(Decision.id).where(Decision.at < cutoff)
            n = len(conn.execute(ids).all())
            self._delete(conn, ids)
        return n

    @staticmethod
    def _delete(conn: Any, ids: Any) -> None:
        for table in (ProtectedAttributes, OutcomeEvent, Contact, Explanation):
            conn.execute(delete(table).where(table.decision_id.in_(ids)))
        conn.execute(delete(Decision).where(Decision.id.in_(ids)))
