"""The agent: customer context → features → reward model → guardrails + policy → decisions.

``Agent.act`` decides, ``Agent.update`` learns. Both are vectorized: the HTTP service calls
them with one customer, the nightly batch with millions, and they behave the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xsell._pending import PendingDecisions
from xsell._time import Clock, as_utc, system_clock
from xsell.act_records import act_records, act_together
from xsell.arms import Arms
from xsell.catalog.product import Catalog, Mode
from xsell.decision_ids import id_array
from xsell.decisions import (
    RecordDecisions,
    decision_frame,
)
from xsell.errors import InputError, NotFittedError, SchemaError
from xsell.explain import explanation, render_explanations
from xsell.features.featurizer import Design, Featurizer, check_customers, duplicated_ids
from xsell.features.spec import FeatureSpec
from xsell.guardrails.contact_history import ContactHistory
from xsell.models.bayes_logistic import BayesianLogisticRegression
from xsell.models.factory import UNCERTAIN_KINDS, add_product, build_model, check_kind
from xsell.outcomes import parse_outcomes
from xsell.policies.base import ActionValues, Policy
from xsell.policies.thompson import ThompsonSampling
from xsell.prior import WarmStartPrior
from xsell.records import OfferResult, UpdateSummary
from xsell.slots import decide_slots, screen

__all__ = ["Agent", "default_policy"]


def default_policy() -> ThompsonSampling:
    """xsell's default policy: Thompson sampling that explores within a budget.

    Posterior scale 0.5; exploration may cost at most 0.5 % of the best offer's expected
    value, plus a 1 % floor spread over the allowed offers for offline evaluation; both grow
    in over the first 5,000 outcomes learned, so day one is exactly the propensity model's
    choice. Chosen on the simulator's tuning seeds (see the README, "Simulator").
    """
    return ThompsonSampling(posterior_scale=0.5, floor=0.01, budget=0.005, warmup=5_000)


class Agent:
    """Decides which product to offer each customer, and learns from the outcomes.

    Parameters
    ----------
    catalog
        What may be offered.
    spec
        Which customer columns are model inputs, which are protected, and where the
        propensity scores and consents are.
    policy
        How to choose among the eligible products (default :func:`default_policy`:
        :class:`ThompsonSampling` within an exploration budget).
    prior
        The warm-start prior (default: rank exactly as the propensity model on day one).
    model
        The conversion model: ``"bayes_logistic"`` (default), ``"ridge"`` (linear, for
        LinUCB and linear Thompson sampling), ``"sgd"`` (scikit-learn's SGD logistic
        oracle, no uncertainty: greedy and epsilon-greedy only) or ``"beta_bernoulli"``
        (no context). Each is warm-started from the propensity scores.
    model_params
        Keyword arguments of that model (e.g. ``{"noise_sd": 0.2}`` for ridge).
    learn_opt_out
        Learn an opt-out model per product and charge ``p(opt-out) × opt_out_cost`` against
        each offer. Default: when any product has an opt-out cost.
    seed
        Seed of every random draw (each draw is keyed by what is decided, never call order).
    clock
        Where ``act``/``update`` read the time when ``at`` is not given.
    history
        Contact history for frequency caps and cool-off (``None``: no contact rules).
    record_contacts
        Whether ``act`` records each offer as a contact in ``history`` (the decision log
        records contacts at delivery instead and switches this off).
    pending_capacity
        How many recent decisions' inputs are kept for learning by decision id.
    choose_channel
        Choose the channel as well as the product: every (product, channel) pair the
        catalog allows is an action with its own model arm, the customer's consent per
        channel is a guardrail and each channel's cost per contact is charged. Off: each
        product goes through its default channel for the mode.
    half_life
        Forgetting, in days of event time (the ``at`` of :meth:`update`): evidence that
        old counts half as much, fading toward the prior. ``None`` (default) never forgets.

    Examples
    --------
    >>> from xsell import Agent, Catalog, make_customers, sample_feature_spec
    >>> agent = Agent(Catalog.sample(), sample_feature_spec(), seed=7)
    >>> customers = make_customers(1000, seed=7)
    >>> decisions = agent.act(customers, at="2026-01-05T09:00:00Z")
    >>> len(decisions), decisions["decision_id"].is_unique
    (1000, True)
    >>> summary = agent.update(decisions.assign(conversion=0)[decisions["product"].notna()])
    >>> summary.model_version
    1
    """

    def __init__(
        self,
        catalog: Catalog,
        spec: FeatureSpec,
        *,
        policy: Policy | None = None,
        prior: WarmStartPrior | None = None,
        model: str = "bayes_logistic",
        model_params: dict[str, Any] | None = None,
        learn_opt_out: bool | None = None,
        seed: int = 0,
        clock: Clock | None = None,
        history: ContactHistory | None = None,
        record_contacts: bool = True,
        pending_capacity: int = 100_000,
        half_life: float | None = None,
        choose_channel: bool = False,
    ) -> None:
        if not isinstance(catalog, Catalog):
            raise InputError(f"`catalog` must be a Catalog, got {type(catalog).__name__}")
        if not isinstance(spec, FeatureSpec):
            raise InputError(f"`spec` must be a FeatureSpec, got {type(spec).__name__}")
        if policy is not None and not isinstance(policy, Policy):
            raise InputError(f"`policy` must be a Policy, got {type(policy).__name__}")
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
            raise InputError(f"`seed` must be an integer, got {seed!r}")
        if pending_capacity < 0:
            raise InputError(f"`pending_capacity` must be >= 0, got {pending_capacity}")
        self.catalog = catalog
        self.spec = spec
        self.policy: Policy = policy if policy is not None else default_policy()
        self.prior = prior if prior is not None else WarmStartPrior()
        check_kind(model)
        if self.policy.uses_uncertainty and model not in UNCERTAIN_KINDS:
            raise InputError(
                f"policy {self.policy.name!r} needs a model that reports its uncertainty; "
                f"{model!r} does not (use one of {list(UNCERTAIN_KINDS)})"
            )
        self.model_kind = model
        self.model_params = dict(model_params or {})
        self.learn_opt_out = (
            any(p.opt_out_cost > 0 for p in catalog.products)
            if learn_opt_out is None
            else bool(learn_opt_out)
        )
        self.seed = int(seed)
        self.clock: Clock = clock if clock is not None else system_clock
        self.history = history
        self.record_contacts = record_contacts
        self.pending_capacity = int(pending_capacity)
        if half_life is not None and not half_life > 0:
            raise InputError(f"`half_life` must be > 0 days (or None), got {half_life!r}")
        self.half_life = None if half_life is None else float(half_life)
        self.last_update_at: pd.Timestamp | None = None
        self.model_version = 0
        self.n_learned = 0
        self.featurizer = Featurizer(spec, catalog.product_ids)
        self.arms = Arms.for_catalog(catalog, choose_channel=bool(choose_channel))

    # -- set-up ---------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether the feature scaling is fitted (on a reference table or the first batch)."""
        return self.featurizer.is_fitted

    def fit_features(self, reference: pd.DataFrame) -> Agent:
        """Fit scaling and category levels on a reference table and build the prior.

        Called automatically on the first :meth:`act` batch when not called before. Once
        fitted, the featurization is frozen (and saved with the agent).
        """
        if self.is_fitted:
            raise InputError(
                "the features are already fitted; they are frozen for the agent's life"
            )
        self.featurizer.fit(reference)
        self._build_models()
        return self

    def _build_models(self) -> None:
        f = self.featurizer
        self.model = build_model(
            self.model_kind,
            featurizer=f,
            catalog=self.catalog,
            prior=self.prior,
            params=self.model_params,
            arm_products=self.arms.product_ids(self.catalog),
        )
        om, osd = self.prior.opt_out_prior(f, len(self.catalog.products))
        self.opt_out_model = BayesianLogisticRegression(om, osd, n_shared=f.n_features)
        self.pending = PendingDecisions(self.pending_capacity, f.n_features, f.n_arm_inputs)

    def update_catalog(self, catalog: Catalog, reference: pd.DataFrame | None = None) -> None:
        """Adopt a new version of the catalog while the agent lives.

        Products keep their place (and everything learned about them); a product that is
        new starts from its propensity prior (the neutral prior where its propensity is
        missing), leaving every other product's model untouched; a product missing from the
        new catalog, or marked ``active: false``, is kept as withdrawn: never offered again,
        its history and coefficients kept. ``reference`` (a customer table with the new
        products' propensity columns) centres the new products' propensity inputs.
        """
        if not isinstance(catalog, Catalog):
            raise InputError(f"`catalog` must be a Catalog, got {type(catalog).__name__}")
        known = list(self.catalog.product_ids)
        given = {p.id: p for p in catalog.products}
        merged = [
            given.get(pid) or self.catalog.product(pid).model_copy(update={"active": False})
            for pid in known
        ]
        added = [p for p in catalog.products if p.id not in known]
        merged += added
        new = Catalog(
            name=catalog.name,
            version=catalog.version,
            products=tuple(merged),
            contact_policy=catalog.contact_policy,
            contact_costs=catalog.contact_costs,
        )
        before = self.arms.n
        self.arms = self.arms.extend(new, [p.id for p in added])
        if self.is_fitted:
            for p in added:
                self.featurizer.add_product(p.id, reference)
                om, osd = self.prior.opt_out_prior(self.featurizer, 1)
                self.opt_out_model.add_arm(om[0], osd[0])
            for pid in self.arms.product_ids(new)[before:]:  # one arm per product or per channel
                add_product(
                    self.model,
                    self.model_kind,
                    featurizer=self.featurizer,
                    catalog=new,
                    prior=self.prior,
                    product_id=pid,
                )
        else:
            self.featurizer = Featurizer(self.spec, new.product_ids)
        self.catalog = new

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "the agent has not seen any customers; call act() or fit_features() first"
            )

    @property
    def feature_names(self) -> list[str]:
        """Names of the explanation features (driver ids index this list)."""
        self._check_fitted()
        return [*self.featurizer.feature_names, "propensity score"]

    @property
    def policy_version(self) -> str:
        """Short stable id of the policy and its parameters."""
        return self.policy.version

    # -- deciding ---------------------------------------------------------------------------
    def _arm_design(self, design: Design) -> Design:
        """The model's view of a product design: one column per arm."""
        if not self.arms.by_channel:
            return design
        k = self.arms.product
        return Design(design.X, design.E[:, k, :], design.propensity[:, k])

    def _action_values(
        self, design: Design, arm_design: Design, eligible: np.ndarray, mode: Mode
    ) -> ActionValues:
        """Value of every arm: p(conversion)·value − p(opt-out)·cost − the channel's contact cost."""
        k = self.arms.product
        pred = self.model.predict(arm_design, with_uncertainty=self.policy.uses_uncertainty)
        contact = np.array(
            [self.catalog.contact_cost(c) for c in self.arms.channels(self.catalog, mode)]
        )
        penalty = np.broadcast_to(contact, pred.loc.shape).copy()
        if self.learn_opt_out:
            cost = np.array([p.opt_out_cost for p in self.catalog.products])
            opt = self.opt_out_model.predict(self._opt_out_design(design.X), with_uncertainty=False)
            penalty += (opt.probability() * cost)[:, k]
        value = np.array([p.value.amount for p in self.catalog.products])[k]
        return ActionValues(pred, value, penalty, eligible)

    def _opt_out_design(self, X: np.ndarray) -> Design:
        K = len(self.catalog.products)
        return Design(X, np.zeros((len(X), K, 0)), np.full((len(X), K), np.nan))

    def act(
        self,
        customers: pd.DataFrame,
        at: object = None,
        *,
        mode: Mode = "realtime",
        placement: str = "default",
        top_n: int = 1,
        blocked: Mapping[str, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """Decide for every customer: one row each (one per offer with ``top_n``), in input order.

        Parameters
        ----------
        customers
            One row per customer, with the columns of the feature spec, ``owns_<product>``,
            the consent columns and the columns the catalog's rules read.
        at
            Decision time, timezone-aware (default: the agent's clock).
        mode
            ``"realtime"`` or ``"batch"``: picks each product's channel.
        placement
            Where the offer is shown (part of the decision key: the same customer decided
            for two placements at the same time gets independent draws).
        top_n
            Length of the ranked list per customer (a web page, an app carousel). Slot 1 is
            drawn from the policy's distribution; slot k from the policy's distribution
            over what is left once slots 1..k-1 are taken, where "no offer" ends the list.
            Each slot carries its own conditional probability and decision id; the list
            never exceeds what the catalog-wide contact limit leaves. ``top_n=1`` gives
            exactly the single decision.
        blocked
            Further guardrails the caller applies, after the catalog's own: a reason (e.g.
            ``"control group"``, ``"campaign capacity"``) → a boolean mask of the blocked
            (customer, product) pairs, shape (n, K), or (n,) for every product. The policy
            chooses among what is left; the reason is recorded like any other.

        Returns
        -------
        pandas.DataFrame
            ``customer_id, decision_id, rank, at, mode, placement, product, channel,
            probability, expected_value, explored, model_version, policy_version``;
            ``p_none`` and ``p_<product>`` (the full distribution the choice was drawn
            from); ``blocked_<product>`` (the rule that blocked it, or ``""``); and
            ``driver_i, driver_i_effect, driver_i_value`` for i = 1..3 (ids into
            :attr:`feature_names`, logit contributions, standardized values). With
            ``top_n > 1`` a customer has one row per offer, ranks 1, 2, ...; a customer
            with no offer keeps one row (rank 1, no product).
        """
        check_customers(customers, self.spec, unique=False)  # uniqueness: on the keys below
        ts = self._check_call(at, mode, top_n)
        if not self.is_fitted:
            self.fit_features(customers)
        slots = decide_slots(
            self,
            customers,
            lambda: _as_str_array(customers[self.spec.customer_id]),
            lambda: duplicated_ids(customers[self.spec.customer_id]),
            ts,
            mode,
            placement,
            top_n,
            blocked,
        )
        frames = []
        for slot in slots:
            rows = slot.rows
            frame = decision_frame(
                customers[self.spec.customer_id].array[rows],
                customers.index[rows],
                id_array(slot.id_parts),
                ts,
                mode,
                placement,
                self.catalog,
                self.arms,
                self.model_version,
                self.policy_version,
                slot.choice,
                slot.reason,
                slot.labels,
                slot.drivers,
            )
            frame.insert(2, "rank", np.full(len(frame), slot.rank, dtype=np.int16))
            frames.append(frame if slot.keep is None else frame[slot.keep])
        if len(frames) == 1:
            return frames[0]
        out = pd.concat(frames)
        order = np.lexsort((out["rank"].to_numpy(), customers.index.get_indexer(out.index)))
        return out.iloc[order]

    def product_values(
        self,
        customers: pd.DataFrame,
        at: object = None,
        *,
        mode: Mode = "realtime",
        blocked: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Plug-in expected value of offering each product, shape (n, K), ``-inf`` where a
        guardrail (or ``blocked``, as in :meth:`act`) forbids it.

        This is the value :meth:`act`'s policies rank by: p(conversion) × value −
        p(opt-out) × cost − the channel's contact cost, at the model's best guess; with
        channel choice, a product's best channel. It decides nothing and records nothing
        (a campaign's capacity is allotted by it, see ``xsell.batch.capacity``).
        """
        check_customers(customers, self.spec, unique=False)
        ts = as_utc(self.clock() if at is None else at)
        if not self.is_fitted:
            self.fit_features(customers)
        values = screen(self, customers, ts, mode, blocked)[3]
        arm_ev = np.asarray(values.expected_value()[:, 1:])
        if not self.arms.by_channel:
            return arm_ev
        out = np.full((len(customers), len(self.catalog.products)), -np.inf)
        for a, k in enumerate(self.arms.product.tolist()):
            np.maximum(out[:, k], arm_ev[:, a], out=out[:, k])
        return out

    def act_records(
        self,
        customers: Sequence[Mapping[str, Any]],
        at: object = None,
        *,
        mode: Mode = "realtime",
        placement: str = "default",
        top_n: int = 1,
        blocked: Mapping[str, np.ndarray] | None = None,
    ) -> RecordDecisions:
        """:meth:`act` for a few customers given as records (JSON objects), without pandas.

        The decisions are those ``act`` makes on ``pandas.DataFrame.from_records(customers)``
        (same ids, products, probabilities, explanation drivers; the same errors), as
        records. Reading one customer into a DataFrame costs more than deciding for it, so
        the columns are read straight into NumPy where that reading is exactly pandas'
        (see :class:`~xsell.features.records.CustomerRecords`); otherwise, and before the
        features are fitted, this runs ``act`` on the DataFrame. ``blocked`` is as in
        :meth:`act`.

        Examples
        --------
        >>> import json
        >>> from xsell import Agent, Catalog, make_customers, sample_feature_spec
        >>> agent = Agent(Catalog.sample(), sample_feature_spec(), seed=7)
        >>> _ = agent.fit_features(make_customers(500, seed=1))
        >>> records = json.loads(make_customers(2, seed=3).to_json(orient="records"))
        >>> out = agent.act_records(records, at="2026-01-05T09:00:00Z")
        >>> [d["decision_id"] for d in out.decisions] == agent.act(
        ...     pd.DataFrame.from_records(records), at="2026-01-05T09:00:00Z"
        ... )["decision_id"].tolist()
        True
        """
        return act_records(self, customers, at, mode, placement, top_n, blocked)

    def act_together(
        self,
        requests: Sequence[Sequence[Mapping[str, Any]]],
        at: object,
        *,
        mode: Mode = "realtime",
        placement: str = "default",
        top_n: int = 1,
        blocked: Mapping[str, np.ndarray] | None = None,
    ) -> list[RecordDecisions] | None:
        """:meth:`act_records` for several requests' customers in one call, or ``None``.

        Each request gets exactly the decisions ``act_records`` would make for it alone at
        the same time ``at`` (decisions are row by row; one call costs little more than
        one request's). ``None`` when that cannot be guaranteed, and nothing is decided:
        a request whose customers only pandas reads exactly, a customer in two requests,
        or a request ``act_records`` refuses; decide each alone then. ``blocked`` (as in
        :meth:`act`) has one row per customer of all the requests, in order.
        """
        return act_together(self, requests, at, mode, placement, top_n, blocked)

    def _check_call(self, at: object, mode: Mode, top_n: int) -> pd.Timestamp:
        if mode not in ("realtime", "batch"):
            raise InputError(f"`mode` must be 'realtime' or 'batch', got {mode!r}")
        if not isinstance(top_n, int | np.integer) or isinstance(top_n, bool) or top_n < 1:
            raise InputError(f"`top_n` must be an integer >= 1, got {top_n!r}")
        ts = as_utc(self.clock() if at is None else at)
        if ts.value < 0:
            raise InputError(
                f"`at` must be 1970-01-01 or later (decision ids count milliseconds since "
                f"then), got {ts.isoformat()}"
            )
        return ts

    def explain(self, decisions: pd.DataFrame) -> pd.Series:
        """Each decision in plain words: why this product, and which products were blocked why.

        Rendered on demand from the structured columns :meth:`act` returned.
        """
        self._check_fitted()
        names = {p.id: p.name for p in self.catalog.products}
        currency = self.catalog.products[0].value.currency
        return render_explanations(decisions, self.feature_names, names, currency)

    def explain_records(self, decisions: RecordDecisions) -> list[str]:
        """:meth:`explain` of decisions :meth:`act_records` made (the same texts)."""
        self._check_fitted()
        names = {p.id: p.name for p in self.catalog.products}
        currency = self.catalog.products[0].value.currency
        features = self.feature_names
        blocked = [f"blocked_{p}" for p in self.catalog.product_ids]
        return [explanation(d, features, names, currency, blocked) for d in decisions.decisions]

    # -- learning ---------------------------------------------------------------------------
    def update(
        self, outcomes: pd.DataFrame | Sequence[OfferResult] | OfferResult, at: object = None
    ) -> UpdateSummary:
        """Learn from outcomes; returns what was learned and the new model version.

        ``outcomes`` is either

        * rows with ``decision_id`` and ``conversion`` (0/1), optionally ``opt_out``
          (0/1 or missing): the agent looks up the inputs it used for that decision; or
        * full rows of context + ``product`` + ``conversion`` (replaying a decision log):
          the context is featurized with the frozen featurizer.

        Rows whose product is none (no offer) teach the product models nothing and are
        counted as skipped. Outcomes may arrive late and in any order; each decision is
        learned once.
        """
        self._check_fitted()
        ts = as_utc(self.clock() if at is None else at)
        batch = parse_outcomes(outcomes, self.spec.model_inputs)
        conv, opt, none = batch.conversion, batch.opt_out, batch.no_offer
        keep = np.flatnonzero(~none)
        slots = None
        if batch.context is not None:
            product = np.asarray(batch.product)[keep]
            col = pd.Index(self.catalog.product_ids).get_indexer(pd.Index(product, dtype=object))
            if (col < 0).any():
                raise InputError(
                    f"`outcomes` column 'product' has unknown product {product[col < 0][0]!r}"
                )
            sub = batch.context.iloc[keep]
            if self.spec.customer_id not in sub.columns:
                raise SchemaError(
                    f"`outcomes` rows need the customer id column {self.spec.customer_id!r}"
                )
            arm = self._replay_arms(col, sub)
            design = self.featurizer.transform(sub, what="outcomes")
            m = np.arange(len(keep))
            X, E, P = design.X, design.E[m, col, :], design.propensity[m, col]
        else:
            ids, parsed = batch.decision_ids or [], batch.parsed_ids
            if len(keep) != len(ids):
                ids = [ids[i] for i in keep.tolist()]
                parsed = None if parsed is None else (parsed[0].take(keep), parsed[1][keep])
            slots = self.pending.lookup(ids, parsed)
            # np.take gathers rows several times faster than fancy indexing
            pend = self.pending
            X, E = np.take(pend.X, slots, axis=0), np.take(pend.E, slots, axis=0)
            P, arm = np.take(pend.P, slots), np.take(pend.arm, slots)
        # the model's view: each row's own arm holds its inputs
        A, m = self.arms.n, np.arange(len(keep))
        Efull = np.zeros((len(keep), A, E.shape[1]))
        Efull[m, arm, :] = E
        Pfull = np.full((len(keep), A), np.nan)
        Pfull[m, arm] = P
        design = Design(X, Efull, Pfull)
        self._forget_until(ts)
        if len(keep):
            self.model.partial_fit(design, arm, conv[keep])
        n_opt = 0
        if self.learn_opt_out and opt is not None and len(keep):
            opt_kept = opt[keep]
            known = np.flatnonzero(~np.isnan(opt_kept))
            n_opt = len(known)
            if n_opt:
                self.opt_out_model.partial_fit(
                    self._opt_out_design(X[known]), self.arms.product[arm[known]], opt_kept[known]
                )
        if slots is not None:
            self.pending.forget(slots)
        if len(keep):
            self.n_learned += len(keep)
            self.model_version += 1
        return UpdateSummary(
            learned=len(keep),
            conversions=int(conv[keep].sum()),
            opt_outs_learned=n_opt,
            skipped_no_offer=int(none.sum()),
            model_version=self.model_version,
        )

    def _replay_arms(self, product: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        """Arms of replayed rows: their product, and with channel choice their channel too."""
        if not self.arms.by_channel:
            return product
        if "channel" not in rows.columns:
            raise SchemaError(
                "`outcomes` rows need a 'channel' column when the agent chooses channels"
            )
        pairs = pd.MultiIndex.from_arrays(
            [self.arms.product, np.asarray(self.arms.channel, dtype=object)]
        )
        arm = pairs.get_indexer(
            pd.MultiIndex.from_arrays([product, rows["channel"].astype(object).to_numpy()])
        )
        if (arm < 0).any():
            bad = rows["channel"].to_numpy()[arm < 0][0]
            raise InputError(
                f"`outcomes` column 'channel' has {bad!r}, not a channel of that product"
            )
        return np.asarray(arm)

    def _forget_until(self, ts: pd.Timestamp) -> None:
        """Fade the evidence toward the prior for the event time elapsed since the last update."""
        if (
            self.half_life is not None
            and self.last_update_at is not None
            and ts > self.last_update_at
        ):
            days = (ts - self.last_update_at) / pd.Timedelta(days=1)
            factor = 0.5 ** (days / self.half_life)
            self.model.decay(factor)
            self.opt_out_model.decay(factor)
        if self.last_update_at is None or ts > self.last_update_at:
            self.last_update_at = ts

    # -- inspection -------------------------------------------------------------------------
    def coefficients(self) -> pd.DataFrame:
        """Every product's weights with their uncertainty, as a long table.

        Columns: ``outcome`` (conversion / opt_out), ``product``, ``feature``, ``weight``
        (posterior mean, logit scale), ``sd`` (posterior standard deviation), ``prior``.
        """
        self._check_fitted()
        rows = []
        names_conv = [*self.featurizer.feature_names, "propensity score", "propensity missing"]
        if self.model_kind == "beta_bernoulli":
            names_conv = ["rate"]
        models: list[tuple[str, Any, list[str]]] = [("conversion", self.model, names_conv)]
        if self.learn_opt_out:
            models.append(("opt_out", self.opt_out_model, self.featurizer.feature_names))
        for outcome, model, names in models:
            mean, sd = model.coefficients()
            for k, pid in enumerate(self.catalog.product_ids):
                for j, name in enumerate(names[: mean.shape[1]]):
                    prior = model.prior_mean_[k, j]
                    rows.append((outcome, pid, name, mean[k, j], sd[k, j], prior))
        return pd.DataFrame(
            rows, columns=["outcome", "product", "feature", "weight", "sd", "prior"]
        )

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Save the agent to one file (JSON manifest + arrays; loading runs no code)."""
        from xsell.persistence import save_agent

        save_agent(self, path)

    @classmethod
    def load(
        cls, path: str, *, clock: Clock | None = None, history: ContactHistory | None = None
    ) -> Agent:
        """Load an agent saved by :meth:`save`; a corrupted or foreign file raises PersistenceError."""
        from xsell.persistence import load_agent

        return load_agent(path, clock=clock, history=history)


def _as_str_array(ids: pd.Series) -> np.ndarray:
    """Customer ids as an object array of ``str`` (converting only when they are not strings)."""
    if pd.api.types.is_string_dtype(ids.dtype):
        return np.asarray(ids.to_numpy(dtype=object))
    return np.asarray(ids.astype(str).to_numpy(dtype=object))
