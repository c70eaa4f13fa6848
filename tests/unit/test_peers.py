"""The open-source peers (Vowpal Wabbit, MABWiser) as arena contenders."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from xsell._rng import hash_keys, keyed_uniform
from xsell.errors import InputError
from xsell.simulation import BankWorld, run_contender
from xsell.simulation.contenders.base import Offers, Setup
from xsell.simulation.contenders.peers import (
    MABWiserBandit,
    PeerUnavailableError,
    VowpalWabbitBandit,
)
from xsell.simulation.scenarios import CONTENDERS, SCENARIOS
from xsell.simulation.worlds.base import Truth

pytest.importorskip("vowpalwabbit")
pytest.importorskip("mabwiser")

PEERS = ("vw-squarecb", "vw-epsilon", "mabwiser-linucb", "mabwiser-lints")


def _small(seed: int = 5, **params: Any) -> BankWorld:
    return BankWorld(seed=seed, customers=600, days=8, **params)


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Two runs of every peer on the same small world (the arena checks eligibility)."""
    return {
        name: (
            run_contender(_small(), CONTENDERS[name][0]),
            run_contender(_small(), CONTENDERS[name][0]),
        )
        for name in PEERS
    }


@pytest.mark.parametrize("name", PEERS)
def test_peer_runs_and_offers_only_eligible_products(
    runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]], name: str
) -> None:
    result, _ = runs[name]
    assert (result["contender"] == name).all()
    assert result["decisions"].sum() > 0
    assert 0 < result["offers"].sum() <= result["decisions"].sum()
    assert np.isfinite(result["reward"]).all()


@pytest.mark.parametrize("name", PEERS)
def test_peer_is_reproducible(
    runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]], name: str
) -> None:
    # LinTS draws from MABWiser's seeded RNG: the same call sequence gives the same run
    first, second = runs[name]
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("name", PEERS)
def test_peer_works_without_a_propensity_model(name: str) -> None:
    world = BankWorld(seed=2, customers=300, days=5, propensity=False)
    assert world.feature_spec.propensity is None
    result = run_contender(world, CONTENDERS[name][0])
    assert result["offers"].sum() > 0


class _Recorder:
    """Wraps a VW peer: keeps each ``act``'s offers and the PMFs VW returned for it."""

    def __init__(self, setup: Setup) -> None:
        self.inner = VowpalWabbitBandit(setup, exploration="epsilon", epsilon=0.3)
        self.name = self.inner.name
        self.seed = setup.seed
        self.calls: list[tuple[pd.DataFrame, np.ndarray, pd.Timestamp, Offers, list[Any]]] = []
        self._pmfs: list[Any] = []
        workspace = self.inner.workspace
        recorder = self

        class Spy:
            def predict(self, lines: list[str]) -> Any:
                pmf = workspace.predict(lines)
                recorder._pmfs.append(list(pmf))
                return pmf

            def learn(self, lines: list[str]) -> None:
                workspace.learn(lines)

        self.inner.workspace = Spy()

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        self._pmfs = []
        offers = self.inner.act(customers, eligible, at)
        self.calls.append((customers, eligible, at, offers, self._pmfs))
        return offers

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        self.inner.update(feedback, at)


def test_vw_probability_is_the_pmf_entry_of_a_keyed_draw() -> None:
    holder: dict[str, _Recorder] = {}

    def factory(setup: Setup) -> _Recorder:
        holder["r"] = _Recorder(setup)
        return holder["r"]

    run_contender(_small(seed=8), factory)
    rec = holder["r"]
    checked = explored = 0
    for customers, eligible, at, offers, pmfs in rec.calls:
        assert len(pmfs) == len(customers)  # no_offer: every customer is decided by VW
        assert offers.probability is not None and offers.explored is not None
        ids = customers["customer_id"].astype(str).to_numpy(dtype=object)
        u = keyed_uniform(rec.seed, hash_keys(ids, at.value, "vw"), 0)
        for i, pmf in enumerate(pmfs):
            pmf = np.asarray(pmf)
            allowed = np.flatnonzero(eligible[i])
            assert len(pmf) == len(allowed) + 1
            a = int(offers.action[i])
            j = len(allowed) if a == -1 else int(np.flatnonzero(allowed == a)[0])
            assert 0 < offers.probability[i] <= 1
            assert offers.probability[i] == pmf[j]
            cum = np.cumsum(pmf)
            assert (cum[j - 1] if j else 0.0) <= u[i] * cum[-1] < cum[j] + 1e-12
            assert offers.explored[i] == (j != int(pmf.argmax()))
            checked += 1
            explored += int(offers.explored[i])
    assert checked > 500 and explored > 0


def test_linucb_reports_probability_one() -> None:
    offers: list[Offers] = []

    class Keep(MABWiserBandit):
        def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
            out = super().act(customers, eligible, at)
            offers.append(out)
            return out

    run_contender(BankWorld(seed=3, customers=300, days=3), Keep)
    assert offers and all(o.probability is not None and (o.probability == 1).all() for o in offers)


class _OneProductWins(BankWorld):
    """The bank world, except that the savings account converts half the time, worth 600."""

    def truth(self, customers: pd.DataFrame, at: pd.Timestamp) -> Truth:
        t = super().truth(customers, at)
        k = list(self.catalog.product_ids).index("savings_account")
        convert = t.convert.copy()
        convert[:, k] = 0.5
        value = np.array(t.value, dtype=np.float64)
        value[:, k] = 600.0
        return replace(t, convert=convert, organic=0.0 * convert, value=value)


@pytest.mark.parametrize("name", PEERS)
def test_peer_learns_to_offer_the_clearly_best_product(name: str) -> None:
    # share of the customers who may get the savings account that are offered it, per step
    shares: list[float] = []
    k = 4
    build = CONTENDERS[name][0]

    class Watch:
        def __init__(self, setup: Setup) -> None:
            assert setup.catalog.product_ids[k] == "savings_account"
            self.inner = build(setup)
            self.name = name

        def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
            offers = self.inner.act(customers, eligible, at)
            may = eligible[:, k]
            shares.append(float((np.asarray(offers.action)[may] == k).mean()))
            return offers

        def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
            self.inner.update(feedback, at)

    # a short observation window: non-conversions are known after 2 days, not 14
    run_contender(_OneProductWins(seed=4, customers=1_000, days=10, window_days=2.0), Watch)
    first, last = shares[0], float(np.mean(shares[-3:]))
    assert last > first + 0.2, (first, last)
    assert last > 0.5, (first, last)


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vowpalwabbit", None)
    monkeypatch.setitem(sys.modules, "mabwiser.mab", None)
    for name in PEERS:
        with pytest.raises(PeerUnavailableError, match=r"pip install 'xsell\[peers\]'") as err:
            run_contender(_small(), CONTENDERS[name][0])
        assert isinstance(err.value, InputError)


def test_peers_are_bank_defaults_and_imported_lazily() -> None:
    for scenario in ("bank", "bank-cold", "bank-drift", "bank-free"):
        assert set(PEERS) <= set(SCENARIOS[scenario].contenders)
    code = (
        "import sys, xsell, xsell.simulation.scenarios; "
        "print(sorted(m for m in ('vowpalwabbit', 'mabwiser') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_second_knobs_reach_the_libraries() -> None:
    from xsell.simulation.contenders import peers

    built: list[Any] = []

    def keep(factory: Any) -> Any:
        def build(setup: Setup) -> Any:
            built.append(factory(setup))
            return built[-1]

        return build

    world = BankWorld(seed=2, customers=100, days=1)
    for exploration, default in (
        ("squarecb", peers.DEFAULT_VW_SQUARECB_LEARNING_RATE),
        ("epsilon", peers.DEFAULT_VW_EPSILON_LEARNING_RATE),
    ):
        run_contender(world, keep(lambda s, e=exploration: VowpalWabbitBandit(s, exploration=e)))
        assert f" -l {default:g} " in built[-1].args
        run_contender(
            world,
            keep(lambda s, e=exploration: VowpalWabbitBandit(s, exploration=e, learning_rate=0.1)),
        )
        assert " -l 0.1 " in built[-1].args
    for policy, default in (
        ("linucb", peers.DEFAULT_LINUCB_L2_LAMBDA),
        ("lints", peers.DEFAULT_LINTS_L2_LAMBDA),
    ):
        run_contender(world, keep(lambda s, p=policy: MABWiserBandit(s, policy=p)))
        assert built[-1].mab.learning_policy.l2_lambda == default
        run_contender(world, keep(lambda s, p=policy: MABWiserBandit(s, policy=p, l2_lambda=10)))
        assert built[-1].mab.learning_policy.l2_lambda == 10
    with pytest.raises(InputError, match="learning_rate"):
        run_contender(world, lambda s: VowpalWabbitBandit(s, learning_rate=0))
