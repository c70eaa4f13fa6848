"""The open-source libraries a bank's data scientist would otherwise pick, as contenders.

Two libraries, two configurations each:

* **Vowpal Wabbit** (``vowpalwabbit``), contextual bandits with action-dependent features
  (``--cb_explore_adf``): ``vw-squarecb`` (SquareCB exploration) and ``vw-epsilon``
  (epsilon-greedy).
* **MABWiser** (``mabwiser``), one linear model per arm: ``mabwiser-linucb`` (LinUCB) and
  ``mabwiser-lints`` (linear Thompson sampling).

Every peer sees what xsell's own agent sees: the same standardized customer features
(:class:`~xsell.features.Featurizer`'s ``Design.X``, fitted on the same reference table),
the same propensity scores (the centred logit ``Design.E[..., 0]``; none without a
propensity model) and the same eligibility mask (ineligible products are never shown to
the library). Each can also choose *no offer* (reward 0, learned at once), as xsell's agent
and the oracle can. Rewards are scaled by the largest catalog value (a conversion of the
most valuable product is worth 1; VW's cost is minus that).

* VW gets, per decision, a shared line with the customer features (namespace ``s``) and
  one line per eligible product with the product's id and its propensity logit
  (namespace ``a``), with ``-q sa`` interactions, so every product has its own linear
  model and the propensity's weight may depend on the customer. The action is drawn from
  VW's PMF with a keyed uniform (seed, customer, decision time), so the draw does not
  depend on call order; ``Offers.probability`` is the PMF entry of the chosen action. VW
  learns ``action:cost:probability`` labels when the outcome arrives, from the context in
  the feedback rows and the eligible set cached by decision id.
* MABWiser gets ``Design.X`` plus the propensity logits of all products as one context
  vector, so each arm's ridge model can weigh its own product's score. It chooses the
  eligible arm with the highest ``predict_expectations`` (ties: catalog order, then no
  offer). LinTS's draws come from MABWiser's own RNG (seeded with the setup's seed): they
  depend on call order, so a run is reproducible as a whole but a customer's draw depends
  on who was decided before. Also a property of the library (2.7): the arms' models hold
  copies of one RNG state, so arms with equal posteriors draw equal samples. Neither
  MABWiser policy exposes the probability of its choice or its greedy choice, so
  ``probability`` is 1 for LinUCB (deterministic), unknown (``None``) for LinTS, and
  ``explored`` is not reported. Both start cold: MABWiser's ``warm_start`` copies trained
  arms to untrained ones, and at the start no arm is trained; the propensity logits in the
  context are the warm information, as for VW.

Tuning
------
The main exploration parameter of each peer was tuned on tuning seeds 1, 2, 3
(``BankWorld(seed=s, customers=10_000)``, 60 days; total arena ``reward``, mean over the
three seeds; never on the reporting seeds 1001-1005): three values a decade apart, then
one more past the best when it lay at the edge. The best is the default (``*``). For
scale, on the same seeds: oracle 91,642, xsell's ``linucb`` 85,927, ``xsell`` 80,035,
``propensity-greedy`` 76,148, ``random`` 53,630 (mean over the seeds).

=================  =============  ==================================================
peer               parameter      value tried → mean reward
=================  =============  ==================================================
vw-squarecb        gamma_scale    10 → 67,517; 100 → 68,398; **1000 → 70,587** *;
                                  10000 → 68,722
vw-epsilon         epsilon        **0.01 → 71,930** *; 0.02 → 70,157; 0.05 → 68,792;
                                  0.1 → 68,465
mabwiser-linucb    alpha          **0.0003 → 74,570** *; 0.003 → 72,735;
                                  0.03 → 69,658; 0.3 → 69,237
mabwiser-lints     alpha          0.003 → 72,723; **0.01 → 76,777** *; 0.03 → 73,165;
                                  0.3 → 55,597
=================  =============  ==================================================

The seed-to-seed spread of one value is several thousand, so only the large gaps are
clear. The grid edges that won (epsilon 0.01, alpha 0.0003) say the peers do best nearly
greedy here. Like a data scientist's first integration, the peers learn each outcome when
it arrives: conversions come within days, non-conversions only when the 14-day window
closes, so their early estimates are optimistic.

A second parameter of each peer was then tuned, so that every peer gets the tuning budget
of xsell's agent (two parameters: its prior's feature sd and its exploration schedule):
VW's learning rate ``-l`` and MABWiser's ridge penalty ``l2_lambda``, with the first
parameter held at its default above. Tuning seeds 11 and 12 (``run_arena("bank",
seeds=[11, 12], world_params={"customers": 20_000})``; total ``expected_reward``, the true
expected value of the actions, mean over the two seeds; ``benchmarks/tune_peers.py``).
The library's own default (VW ``-l 0.5``, MABWiser ``l2_lambda=1``) was the starting
point; a new value became the default only if it beat it on both seeds. For scale, on
the same seeds: oracle 184,047, ``xsell`` 170,691, ``propensity-greedy`` 159,161.

=================  =============  ==================================================
peer               parameter      value tried → mean expected value
=================  =============  ==================================================
vw-squarecb        learning_rate  0.02 → 137,264; **0.1 → 148,678** *;
                                  0.5 → 145,716; 2 → 144,727
vw-epsilon         learning_rate  0.02 → 142,089; 0.1 → 146,279;
                                  **0.5 → 145,773** *; 2 → 144,329
mabwiser-linucb    l2_lambda      0.1 → 151,921; 1 → 150,329; 10 → 151,696;
                                  **100 → 156,405** *
mabwiser-lints     l2_lambda      0.1 → 155,434; 1 → 155,214; 10 → 153,468;
                                  **100 → 160,053** *
=================  =============  ==================================================

SquareCB's ``-l 0.1`` beat 0.5 on both seeds (by 2,585 and 3,339). Epsilon-greedy's 0.1
won seed 11 (147,387 vs 144,980) but lost seed 12 (145,171 vs 146,566), so VW's default
0.5 stays. ``l2_lambda=100`` beat 1 on both seeds for both MABWiser policies (LinUCB by
5,845 and 6,308, LinTS by 2,843 and 6,834). 100 is the grid's edge and a larger penalty
was not tried (four values, the budget of xsell's feature sd), so the MABWiser optimum may
lie beyond it. A larger penalty also narrows the UCB width and the Thompson posterior, so
it interacts with ``alpha``, which was tuned at ``l2_lambda=1`` and not re-tuned jointly.
The first table's numbers were measured with the libraries' defaults for the second
parameters, on other seeds and with the arena ``reward``, so the two tables are not
comparable with each other.

Examples
--------
>>> from xsell.simulation import BankWorld, run_contender
>>> result = run_contender(BankWorld(seed=1, customers=300, days=5), VowpalWabbitBandit)
>>> int(result["decisions"].sum()) > 0
True
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any, Literal

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.errors import InputError
from xsell.features.featurizer import Featurizer
from xsell.simulation.contenders.base import Offers, Setup

__all__ = [
    "DEFAULT_EPSILON",
    "DEFAULT_GAMMA_SCALE",
    "DEFAULT_LINTS_ALPHA",
    "DEFAULT_LINTS_L2_LAMBDA",
    "DEFAULT_LINUCB_ALPHA",
    "DEFAULT_LINUCB_L2_LAMBDA",
    "DEFAULT_VW_EPSILON_LEARNING_RATE",
    "DEFAULT_VW_SQUARECB_LEARNING_RATE",
    "MABWiserBandit",
    "PeerUnavailableError",
    "VowpalWabbitBandit",
]

#: SquareCB's ``--gamma_scale`` (tuned, see the module docstring)
DEFAULT_GAMMA_SCALE = 1000.0
#: epsilon-greedy's ``--epsilon`` (tuned)
DEFAULT_EPSILON = 0.01
#: LinUCB's ``alpha`` (tuned)
DEFAULT_LINUCB_ALPHA = 0.0003
#: LinTS's ``alpha`` (tuned)
DEFAULT_LINTS_ALPHA = 0.01
#: VW's learning rate ``-l`` for SquareCB (tuned; VW's own default is 0.5)
DEFAULT_VW_SQUARECB_LEARNING_RATE = 0.1
#: VW's learning rate ``-l`` for epsilon-greedy (tuned: VW's default kept)
DEFAULT_VW_EPSILON_LEARNING_RATE = 0.5
#: LinUCB's ``l2_lambda`` (tuned; MABWiser's own default is 1)
DEFAULT_LINUCB_L2_LAMBDA = 100.0
#: LinTS's ``l2_lambda`` (tuned)
DEFAULT_LINTS_L2_LAMBDA = 100.0


class PeerUnavailableError(InputError):
    """A peer library is not installed (``pip install 'xsell[peers]'``)."""


def _require(module: str, contender: str) -> ModuleType:
    """Import a peer library when its contender is built, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PeerUnavailableError(
            f"contender {contender!r} needs the {module.split('.')[0]!r} package; "
            "install the peers extra: pip install 'xsell[peers]'"
        ) from None


class _Inputs:
    """The features xsell's agent uses: ``Design.X`` and the propensity logits."""

    def __init__(self, setup: Setup) -> None:
        self.spec = setup.feature_spec
        self.product_ids = list(setup.catalog.product_ids)
        self.featurizer = Featurizer(self.spec, self.product_ids).fit(setup.reference)
        self.has_propensity = self.spec.propensity is not None
        self.scale = max(p.value.amount for p in setup.catalog.products)
        self.seed = setup.seed

    def design(self, customers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X`` (n, F), propensity logits (n, K) and missing flags (n, K)."""
        d = self.featurizer.transform(customers)
        if self.has_propensity:
            return d.X, d.E[:, :, 0], d.E[:, :, 1] > 0
        n, K = d.n, len(self.product_ids)
        return d.X, np.zeros((n, K)), np.zeros((n, K), dtype=bool)

    def ids(self, customers: pd.DataFrame) -> np.ndarray:
        return customers[self.spec.customer_id].astype(str).to_numpy(dtype=object)


def _vw_name(name: str) -> str:
    """A feature name VW's text format can carry (no blanks, ``:`` or ``|``)."""
    return re.sub(r"[\s:|]", "_", name)


class VowpalWabbitBandit:
    """Vowpal Wabbit's ``--cb_explore_adf`` with SquareCB or epsilon-greedy exploration.

    Parameters
    ----------
    setup
        The world and seed.
    exploration
        ``"squarecb"`` (``--squarecb --gamma_scale``) or ``"epsilon"`` (``--epsilon``).
    gamma_scale
        SquareCB's ``--gamma_scale`` (its greediness grows as ``gamma_scale * sqrt(t)``).
    epsilon
        Exploration probability of epsilon-greedy.
    learning_rate
        VW's learning rate ``-l`` (default: the tuned value of the exploration,
        :data:`DEFAULT_VW_SQUARECB_LEARNING_RATE` or :data:`DEFAULT_VW_EPSILON_LEARNING_RATE`).
    no_offer
        Whether "no offer" is an action (always eligible, reward 0).
    extra_args
        More VW arguments (e.g. ``"--power_t 0.3"``).
    name
        Name in the results (default ``vw-squarecb`` / ``vw-epsilon``).
    """

    def __init__(
        self,
        setup: Setup,
        *,
        exploration: Literal["squarecb", "epsilon"] = "squarecb",
        gamma_scale: float = DEFAULT_GAMMA_SCALE,
        epsilon: float = DEFAULT_EPSILON,
        learning_rate: float | None = None,
        no_offer: bool = True,
        extra_args: str = "",
        name: str | None = None,
    ) -> None:
        self.name = name or f"vw-{exploration}"
        vw = _require("vowpalwabbit", self.name)
        if exploration == "squarecb":
            explore = f"--squarecb --gamma_scale {gamma_scale:g}"
            default_rate = DEFAULT_VW_SQUARECB_LEARNING_RATE
        elif exploration == "epsilon":
            explore = f"--epsilon {epsilon:g}"
            default_rate = DEFAULT_VW_EPSILON_LEARNING_RATE
        else:
            raise InputError(f"`exploration` must be 'squarecb' or 'epsilon', got {exploration!r}")
        rate = default_rate if learning_rate is None else learning_rate
        if not rate > 0:
            raise InputError(f"`learning_rate` must be positive, got {learning_rate!r}")
        self.inputs = _Inputs(setup)
        self.no_offer = no_offer
        self.args = (
            f"--cb_explore_adf {explore} -l {rate:g} -q sa --quiet --random_seed {setup.seed} "
            f"{extra_args}"
        ).strip()
        self.workspace: Any = vw.Workspace(self.args)
        names = [_vw_name(f) for f in self.inputs.featurizer.feature_names]
        self._prefix = np.array([f"{f}:" for f in names], dtype=object)
        self._product = np.array(
            [f"|a {_vw_name(p)}" for p in self.inputs.product_ids], dtype=object
        )
        # decision id -> (eligible products, chosen probability), until the outcome arrives
        self._pending: dict[str, tuple[np.ndarray, float]] = {}

    # -- text format ----------------------------------------------------------------------
    def _lines(self, customers: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Shared lines (n,) and action lines (n, K) in VW's text format, built by column."""
        X, logit, missing = self.inputs.design(customers)
        n = len(X)
        # rounding then astype(str) formats ~3x faster than np.char.mod
        Xr = X.round(4)
        tokens = np.where(Xr != 0, self._prefix + Xr.astype(str).astype(object), "")
        shared = ["shared |s " + " ".join(row) for row in tokens.tolist()]
        actions = np.broadcast_to(self._product, (n, len(self._product))).astype(object)
        if self.inputs.has_propensity:
            actions = actions + " logit:" + logit.round(4).astype(str).astype(object)
            actions = np.where(missing, actions + " missing", actions)
        return shared, actions

    def _example(self, shared: str, actions: np.ndarray, allowed: np.ndarray) -> list[str]:
        lines = [shared, *actions[allowed].tolist()]
        if self.no_offer:
            lines.append("|a no_offer")
        return lines

    # -- the contender interface -----------------------------------------------------------
    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Ask VW for a PMF over the eligible actions and draw one with a keyed uniform."""
        n = len(eligible)
        action = np.full(n, -1, dtype=np.int64)
        prob = np.ones(n)
        explored = np.zeros(n, dtype=bool)
        ids = self.inputs.ids(customers)
        if n == 0:
            return Offers(action, prob, explored, ids)
        shared, actions = self._lines(customers)
        u = keyed_uniform(self.inputs.seed, hash_keys(ids, at.value, "vw"), 0)
        learn_none: list[list[str]] = []
        for i in range(n):
            allowed = np.flatnonzero(eligible[i])
            if not len(allowed) and not self.no_offer:
                continue
            lines = self._example(shared[i], actions[i], allowed)
            pmf = np.asarray(self.workspace.predict(lines), dtype=np.float64)
            cum = np.cumsum(pmf)
            j = min(int(np.searchsorted(cum, u[i] * cum[-1], side="right")), len(pmf) - 1)
            prob[i] = pmf[j]
            explored[i] = j != int(pmf.argmax())
            if j < len(allowed):
                action[i] = allowed[j]
                self._pending[f"{ids[i]}@{at.value}"] = (allowed, float(pmf[j]))
            elif len(allowed):  # no offer: its reward (0) is known now
                lines[-1] = f"0:0:{pmf[j]:.6g} {lines[-1]}"
                learn_none.append(lines)
        for lines in learn_none:
            self.workspace.learn(lines)
        decision_id = np.char.add(ids.astype(str), f"@{at.value}").astype(object)
        return Offers(action, prob, explored, decision_id)

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learn ``action:cost:probability`` for each decided offer, cost = -reward / max value."""
        if not len(feedback):
            return
        shared, actions = self._lines(feedback)
        cost = -feedback["reward"].to_numpy(dtype=np.float64) / self.inputs.scale
        chosen = feedback["product_index"].to_numpy(dtype=np.int64)
        for i, did in enumerate(feedback["decision_id"].astype(str).tolist()):
            entry = self._pending.pop(did, None)
            if entry is None:
                continue
            allowed, p = entry
            lines = self._example(shared[i], actions[i], allowed)
            j = 1 + int(np.flatnonzero(allowed == chosen[i])[0])
            lines[j] = f"0:{cost[i]:.6g}:{p:.6g} {lines[j]}"
            self.workspace.learn(lines)


class MABWiserBandit:
    """MABWiser's LinUCB or LinTS, one ridge model per product (and one for no offer).

    Parameters
    ----------
    setup
        The world and seed (MABWiser's ``seed``).
    policy
        ``"linucb"`` or ``"lints"``.
    alpha
        The policy's exploration factor (UCB width / posterior scale).
    l2_lambda
        Ridge penalty of each arm's model (default: the tuned value of the policy,
        :data:`DEFAULT_LINUCB_L2_LAMBDA` or :data:`DEFAULT_LINTS_L2_LAMBDA`).
    no_offer
        Whether "no offer" is an arm (always eligible, reward 0).
    name
        Name in the results (default ``mabwiser-linucb`` / ``mabwiser-lints``).
    """

    def __init__(
        self,
        setup: Setup,
        *,
        policy: Literal["linucb", "lints"] = "linucb",
        alpha: float | None = None,
        l2_lambda: float | None = None,
        no_offer: bool = True,
        name: str | None = None,
    ) -> None:
        self.name = name or f"mabwiser-{policy}"
        mab = _require("mabwiser.mab", self.name)
        if policy == "linucb":
            learning = mab.LearningPolicy.LinUCB(
                alpha=DEFAULT_LINUCB_ALPHA if alpha is None else alpha,
                l2_lambda=DEFAULT_LINUCB_L2_LAMBDA if l2_lambda is None else l2_lambda,
            )
        elif policy == "lints":
            learning = mab.LearningPolicy.LinTS(
                alpha=DEFAULT_LINTS_ALPHA if alpha is None else alpha,
                l2_lambda=DEFAULT_LINTS_L2_LAMBDA if l2_lambda is None else l2_lambda,
            )
        else:
            raise InputError(f"`policy` must be 'linucb' or 'lints', got {policy!r}")
        self.policy = policy
        self.inputs = _Inputs(setup)
        K = len(self.inputs.product_ids)
        self.arms: list[int] = list(range(K)) + ([-1] if no_offer else [])
        self.no_offer = no_offer
        self.mab: Any = mab.MAB(self.arms, learning, seed=setup.seed, n_jobs=1)
        # MABWiser predicts only after a fit; all-zero contexts leave every ridge model as
        # it starts (A = lambda I, b = 0), so this fit only initializes
        d = self._context(setup.reference.iloc[:1]).shape[1]
        self.mab.fit(self.arms, np.zeros(len(self.arms)), np.zeros((len(self.arms), d)))

    def _context(self, customers: pd.DataFrame) -> np.ndarray:
        X, logit, _ = self.inputs.design(customers)
        return np.hstack([X, logit]) if self.inputs.has_propensity else np.asarray(X)

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """The eligible arm with the highest expectation (UCB or Thompson draw)."""
        n, K = eligible.shape
        if n == 0:
            return Offers(np.full(0, -1, dtype=np.int64), np.ones(0), np.zeros(0, dtype=bool))
        context = self._context(customers)
        expected = self.mab.predict_expectations(context)
        rows = [expected] if isinstance(expected, dict) else expected
        score = pd.DataFrame.from_records(rows, columns=self.arms).to_numpy(dtype=np.float64)
        allowed = np.hstack([eligible, np.ones((n, len(self.arms) - K), dtype=bool)])
        best = np.where(allowed, score, -np.inf).argmax(axis=1)
        arm = np.asarray(self.arms)[best]
        action = np.where(eligible.any(axis=1), arm, -1).astype(np.int64)
        none = (action == -1) & eligible.any(axis=1)
        if none.any():  # no offer pays 0, known now
            self.mab.partial_fit(
                np.full(int(none.sum()), -1), np.zeros(int(none.sum())), context[none]
            )
        prob = np.ones(n) if self.policy == "linucb" else None
        return Offers(action, prob, None)

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """``partial_fit`` on the decided offers, reward scaled by the largest catalog value."""
        if not len(feedback):
            return
        self.mab.partial_fit(
            feedback["product_index"].to_numpy(dtype=np.int64),
            feedback["reward"].to_numpy(dtype=np.float64) / self.inputs.scale,
            self._context(feedback),
        )
