"""Building reward models by name, warm-started, and rebuilding them from saved state."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from xsell.catalog.product import Catalog
from xsell.errors import InputError, PersistenceError
from xsell.features.featurizer import Featurizer
from xsell.models.base import RewardModel
from xsell.models.bayes_logistic import BayesianLogisticRegression
from xsell.models.beta_bernoulli import BetaBernoulli
from xsell.models.ridge import RidgeRegression
from xsell.models.sgd_oracle import SGDOracle
from xsell.prior import WarmStartPrior

__all__ = ["MODEL_KINDS", "UNCERTAIN_KINDS", "add_product", "build_model", "model_from_state"]

#: reward models by name
MODEL_KINDS: dict[str, Any] = {
    "bayes_logistic": BayesianLogisticRegression,
    "ridge": RidgeRegression,
    "sgd": SGDOracle,
    "beta_bernoulli": BetaBernoulli,
}
#: models that report their uncertainty (needed by Thompson sampling and UCB)
UNCERTAIN_KINDS = ("bayes_logistic", "ridge", "beta_bernoulli")


def check_kind(kind: str) -> None:
    """Refuse an unknown model name, listing the known ones."""
    if kind not in MODEL_KINDS:
        raise InputError(f"`model` must be one of {sorted(MODEL_KINDS)}, got {kind!r}")


def _rates(featurizer: Featurizer, catalog: Catalog, ids: list[str]) -> np.ndarray:
    """Mean propensity per product (probability scale), or its base rate without one."""
    out = []
    for pid in ids:
        k = featurizer.product_ids.index(pid)
        mean = featurizer.propensity_mean_[k] if featurizer.n_arm_inputs else float("nan")
        out.append(catalog.product(pid).base_rate if not np.isfinite(mean) else mean)
    return np.asarray(out, dtype=np.float64)


def _priors(
    kind: str, featurizer: Featurizer, catalog: Catalog, prior: WarmStartPrior, ids: list[str]
) -> dict[str, Any]:
    if kind == "beta_bernoulli":
        return {"prior_rate": _rates(featurizer, catalog, ids)}
    if kind == "ridge":
        mean, sd = prior.linear_prior(featurizer, catalog, ids, _rates(featurizer, catalog, ids))
        return {
            "prior_mean": mean,
            "prior_sd": sd,
            "propensity_centre": _rates(featurizer, catalog, ids),
        }
    mean, sd = prior.conversion_prior(featurizer, catalog, ids)
    return {"prior_mean": mean, "prior_sd": sd}


def build_model(
    kind: str,
    *,
    featurizer: Featurizer,
    catalog: Catalog,
    prior: WarmStartPrior,
    params: dict[str, Any] | None = None,
    arm_products: list[str] | None = None,
) -> RewardModel:
    """A conversion model of the named kind, warm-started from the bank's propensities.

    ``arm_products`` names the product of every arm (default: one arm per product); arms
    of one product (its channels) share that product's prior.
    """
    check_kind(kind)
    ids = list(catalog.product_ids) if arm_products is None else arm_products
    p = _priors(kind, featurizer, catalog, prior, ids)
    params = dict(params or {})
    try:
        if kind == "beta_bernoulli":
            return cast(RewardModel, BetaBernoulli(p["prior_rate"], **params))
        if kind == "ridge":
            return RidgeRegression(
                p["prior_mean"],
                p["prior_sd"],
                n_shared=featurizer.n_features,
                propensity_centre=p["propensity_centre"],
                **params,
            )
        return cast(
            RewardModel,
            MODEL_KINDS[kind](
                p["prior_mean"], p["prior_sd"], n_shared=featurizer.n_features, **params
            ),
        )
    except TypeError as exc:
        raise InputError(f"`model_params` do not fit model {kind!r}: {exc}") from None


def add_product(
    model: RewardModel,
    kind: str,
    *,
    featurizer: Featurizer,
    catalog: Catalog,
    prior: WarmStartPrior,
    product_id: str,
) -> None:
    """Give a launched product its own arm, from its prior; other arms are untouched."""
    p = _priors(kind, featurizer, catalog, prior, [product_id])
    if kind == "beta_bernoulli":
        model.add_arm(float(p["prior_rate"][0]))  # type: ignore[call-arg, arg-type]
    elif kind == "ridge":
        model.add_arm(p["prior_mean"][0], p["prior_sd"][0], float(p["propensity_centre"][0]))  # type: ignore[call-arg]
    else:
        model.add_arm(p["prior_mean"][0], p["prior_sd"][0])


def model_from_state(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RewardModel:
    """Rebuild a saved model."""
    if kind not in MODEL_KINDS:
        raise PersistenceError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}")
    return cast(RewardModel, MODEL_KINDS[kind].from_state(meta, arrays))
