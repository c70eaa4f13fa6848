"""Outcome events and observation windows: idempotency, expiry, late events, early close."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from tests.store.conftest import RULES, T0, World
from xsell.errors import InputError, UnknownDecisionError
from xsell.store import DecisionLog, RewardRules
from xsell.store.tables import Contact, LearnedOutcome, OutcomeEvent

DELIVERED = T0 + timedelta(seconds=1)
CLOSES = DELIVERED + timedelta(days=RULES.window_days + RULES.grace_days)


def _learned(world: World) -> dict[str, tuple[int, int]]:
    with world.log.engine.connect() as conn:
        rows = conn.execute(
            select(LearnedOutcome.decision_id, LearnedOutcome.conversion, LearnedOutcome.opt_out)
        ).all()
    return {r.decision_id: (r.conversion, r.opt_out) for r in rows}


def _event(
    decision: str, type_: str, key: str, at: object, received: object = None
) -> dict[str, object]:
    return {
        "decision_id": decision,
        "type": type_,
        "idempotency_key": key,
        "at": at,
        "received_at": received or at,
    }


def test_a_duplicate_event_changes_nothing(world: World) -> None:
    a, b = world.deliver_all()[:2]
    first = [_event(a, "conversion", "k-1", DELIVERED + timedelta(days=1))]
    assert world.log.record_events(first) == 1
    again = [
        _event(a, "opt_out", "k-1", DELIVERED + timedelta(days=2)),
        _event(b, "click", "k-2", DELIVERED),
    ]
    assert world.log.record_events(pd.DataFrame(again)) == 1  # only k-2 is new
    with world.log.engine.connect() as conn:
        types = conn.execute(select(OutcomeEvent.type).order_by(OutcomeEvent.id)).scalars().all()
    assert types == ["conversion", "click"]
    world.learner().run_until_idle(now=CLOSES)
    assert _learned(world)[a] == (1, 0)


def test_silence_is_learned_as_no_conversion_once_the_window_and_grace_pass(world: World) -> None:
    offered = world.deliver_all()
    assert world.learner().run_until_idle(now=CLOSES - timedelta(seconds=1)) == []
    results = world.learner().run_until_idle(now=CLOSES)
    assert sum(r.learned for r in results) == len(offered)
    assert set(_learned(world).values()) == {(0, 0)}


def test_an_undelivered_offer_is_never_learned(world: World) -> None:
    assert world.learner().run_until_idle(now=CLOSES + timedelta(days=100)) == []


def test_a_conversion_closes_the_window_early(world: World) -> None:
    a, b = world.deliver_all()[:2]
    day = DELIVERED + timedelta(days=1)
    world.log.record_events([_event(a, "conversion", "c-a", day), _event(b, "opt_out", "o-b", day)])
    results = world.learner().run_until_idle(now=day + timedelta(minutes=1))
    assert [r.learned for r in results] == [1]
    assert _learned(world) == {a: (1, 0)}


def test_a_late_event_is_stored_not_learned(world: World) -> None:
    a, b, c = world.deliver_all()[:3]
    in_window = DELIVERED + timedelta(days=RULES.window_days - 1)
    world.log.record_events(
        [
            # happened in the window but arrived after the grace period
            _event(a, "conversion", "late-a", in_window, CLOSES + timedelta(seconds=1)),
            # happened after the window ended (within the grace period)
            _event(
                b, "conversion", "late-b", DELIVERED + timedelta(days=RULES.window_days, seconds=1)
            ),
            # in the window, received within the grace period: counts
            _event(c, "opt_out", "grace-c", in_window, CLOSES - timedelta(seconds=1)),
        ]
    )
    world.learner().run_until_idle(now=CLOSES + timedelta(days=1))
    learned = _learned(world)
    assert learned[a] == (0, 0) and learned[b] == (0, 0) and learned[c] == (0, 1)
    # after learning: stored, never learned again
    assert (
        world.log.record_events(
            [_event(a, "conversion", "later-a", in_window, CLOSES + timedelta(days=2))]
        )
        == 1
    )
    assert world.learner().run_until_idle(now=CLOSES + timedelta(days=3)) == []
    assert _learned(world)[a] == (0, 0)


def test_a_delivery_event_opens_the_window(world: World) -> None:
    a = world.offered[0]
    world.log.record_events([_event(a, "impression", "imp-a", DELIVERED)])
    world.log.record_events([_event(a, "delivered", "del-a", DELIVERED + timedelta(hours=1))])
    with world.log.engine.connect() as conn:
        contact = conn.execute(select(Contact.at, Contact.source, Contact.closes_at)).one()
        assert conn.execute(select(func.count()).select_from(Contact)).scalar() == 1
    assert (contact.at, contact.source, contact.closes_at) == (DELIVERED, "impression", CLOSES)


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        (
            {"decision_id": "nope", "type": "click", "idempotency_key": "x"},
            UnknownDecisionError,
            "not in the log",
        ),
        (
            {"decision_id": "{a}", "type": "purchase", "idempotency_key": "x"},
            InputError,
            "type 'purchase'",
        ),
        ({"decision_id": "{a}", "type": "click"}, InputError, "missing 'idempotency_key'"),
        (
            {"decision_id": "{a}", "type": "click", "idempotency_key": "x", "at": "2026-01-05"},
            InputError,
            "timezone-aware",
        ),
    ],
)
def test_invalid_events_are_refused_naming_the_field(
    world: World, event: dict[str, str], error: type[Exception], match: str
) -> None:
    e = {k: v.replace("{a}", world.offered[0]) for k, v in event.items()}
    with pytest.raises(error, match=match):
        world.log.record_events([e])


def test_delivery_events_by_channel_and_windows_by_product(world: World) -> None:
    """On a channel with its own delivery events only those make a contact; a product with
    its own window closes its contacts' windows on its own schedule."""
    offered = world.decisions[world.decisions["product"].notna()]
    web = offered[offered["channel"] == "web"].iloc[0]
    app = offered[(offered["channel"] == "app") & (offered["product"] != web["product"])].iloc[0]
    rules = RewardRules(
        window_days=10,
        grace_days=2,
        delivery_events_by_channel={"web": ("impression",)},
        window_days_by_product={str(web["product"]): 3},
    )
    log = DecisionLog(world.log.engine, catalog=world.agent.catalog, rules=rules, clock=world.clock)

    def contacts() -> dict[str, object]:
        with log.engine.connect() as conn:
            rows = conn.execute(select(Contact.decision_id, Contact.closes_at)).all()
        return {r.decision_id: r.closes_at for r in rows}

    log.record_events([_event(web["decision_id"], "delivered", "web-d", DELIVERED)])
    assert contacts() == {}  # on the web only an impression is a contact
    log.record_events(
        [
            _event(web["decision_id"], "impression", "web-i", DELIVERED),
            _event(app["decision_id"], "delivered", "app-d", DELIVERED),
        ]
    )
    assert contacts() == {
        web["decision_id"]: DELIVERED + timedelta(days=3 + 2),  # its product's own window
        app["decision_id"]: DELIVERED + timedelta(days=10 + 2),  # the default window
    }
