"""The warm-start prior: day one ranks exactly as the bank's propensity model does."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import logit

from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.features.featurizer import Featurizer

__all__ = ["WarmStartPrior"]


@dataclass(frozen=True, slots=True)
class WarmStartPrior:
    """Prior of each product's conversion and opt-out models.

    With a propensity model, product k's logit starts as exactly the logit of its
    propensity score: weight 1 on the (centred) propensity logit, an intercept at the
    product's mean propensity logit, 0 on every other feature. A missing propensity falls
    back to the product's ``base_rate``. Without a propensity model the intercept starts
    at the ``base_rate`` (a neutral prior). The standard deviations say how quickly data
    may move each part: customer features have a tighter prior than the propensity
    weight, so the propensity model leads until evidence says otherwise.

    Parameters
    ----------
    intercept_sd, propensity_sd, feature_sd, missing_sd
        Prior standard deviations (logit scale) of the intercept, the propensity weight,
        each customer feature weight and the missing-propensity weight.
    opt_out_rate
        Prior opt-out probability per offer.
    opt_out_sd
        Prior standard deviation of the opt-out model's weights (intercept included).
    """

    intercept_sd: float = 0.3
    propensity_sd: float = 0.5
    feature_sd: float = 0.15
    missing_sd: float = 0.5
    opt_out_rate: float = 0.003
    opt_out_sd: float = 0.3

    def __post_init__(self) -> None:
        for name in ("intercept_sd", "propensity_sd", "feature_sd", "missing_sd", "opt_out_sd"):
            if not getattr(self, name) > 0:
                raise InputError(f"`{name}` must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.opt_out_rate < 1:
            raise InputError(f"`opt_out_rate` must be in (0, 1), got {self.opt_out_rate!r}")

    def conversion_prior(
        self, featurizer: Featurizer, catalog: Catalog, product_ids: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prior mean and sd, shape (K, d + e), for the conversion model."""
        ids = product_ids or list(catalog.product_ids)
        d, e = featurizer.n_features, featurizer.n_arm_inputs
        mean = np.zeros((len(ids), d + e))
        sd = np.full((len(ids), d + e), self.feature_sd)
        sd[:, 0] = self.intercept_sd
        for k, pid in enumerate(ids):
            base = float(logit(catalog.product(pid).base_rate))
            if e:
                centre = featurizer.propensity_centre_[featurizer.product_ids.index(pid)]
                mean[k, 0] = centre
                mean[k, d] = 1.0
                mean[k, d + 1] = base - centre
                sd[k, d] = self.propensity_sd
                sd[k, d + 1] = self.missing_sd
            else:
                mean[k, 0] = base
        return mean, sd

    def linear_prior(
        self, featurizer: Featurizer, catalog: Catalog, product_ids: list[str], rate: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prior of a linear (probability-scale) model, shape (K, d + e).

        The same beliefs as :meth:`conversion_prior`, carried to the probability scale at
        each product's mean rate: weight 1 on the centred propensity, intercept at the
        mean rate, and every logit standard deviation times ``rate·(1 - rate)``, the slope
        of the logistic curve there.
        """
        d, e = featurizer.n_features, featurizer.n_arm_inputs
        mean = np.zeros((len(product_ids), d + e))
        sd = np.full((len(product_ids), d + e), self.feature_sd)
        sd[:, 0] = self.intercept_sd
        for k, pid in enumerate(product_ids):
            mean[k, 0] = rate[k]
            if e:
                mean[k, d] = 1.0
                mean[k, d + 1] = catalog.product(pid).base_rate - rate[k]
                sd[k, d + 1] = self.missing_sd
        sd *= (rate * (1.0 - rate))[:, None]
        if e:
            sd[:, d] = self.propensity_sd
        return mean, sd

    def opt_out_prior(
        self, featurizer: Featurizer, n_products: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prior mean and sd, shape (K, d), for the opt-out model."""
        d = featurizer.n_features
        mean = np.zeros((n_products, d))
        mean[:, 0] = float(logit(self.opt_out_rate))
        return mean, np.full((n_products, d), self.opt_out_sd)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for persistence."""
        return asdict(self)
