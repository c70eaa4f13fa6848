"""The reward-model contract: P(outcome | customer, product) and its uncertainty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from scipy.special import expit

from xsell.errors import InputError
from xsell.features.featurizer import Design

__all__ = [
    "Prediction",
    "RewardModel",
    "check_design",
    "gaussian_prior",
    "predict_one_row_as_two",
    "row_products",
]

Link = Literal["logit", "identity"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """A model's belief about every (customer, product) outcome probability.

    The belief is Normal on the link scale: ``loc`` and ``scale`` of shape (n, K), with
    ``link`` telling how that scale maps to a probability (``"logit"``: ``expit``;
    ``"identity"``: the value itself, clipped to [0, 1]). Policies only ever read this.
    """

    loc: np.ndarray
    scale: np.ndarray | None
    link: Link = "logit"

    def probability(self) -> np.ndarray:
        """Plug-in probability at the posterior mode (``link⁻¹(loc)``)."""
        return to_probability(self.loc, self.link)


def to_probability(z: np.ndarray, link: Link) -> np.ndarray:
    """Map link-scale values to probabilities."""
    if link == "logit":
        return np.asarray(expit(z))
    return np.asarray(np.clip(z, 0.0, 1.0))


def check_design(design: Design, *, n_shared: int, n_inputs: int, n_arms: int) -> None:
    """Refuse a design whose shape does not fit the model (shared + arm inputs, arms)."""
    d, e = design.X.shape[1], design.E.shape[2]
    if d != n_shared or d + e != n_inputs:
        raise InputError(
            f"design has {d} shared + {e} arm inputs; the model was built for "
            f"{n_shared} + {n_inputs - n_shared}"
        )
    if design.E.shape[1] != n_arms:
        raise InputError(f"design has {design.E.shape[1]} arms; the model has {n_arms}")


def gaussian_prior(prior_mean: np.ndarray, prior_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal covariance and precision matrices, shape (K, D, D), of independent priors."""
    K, D = prior_mean.shape
    idx = np.arange(D)
    cov = np.zeros((K, D, D))
    prec = np.zeros((K, D, D))
    cov[:, idx, idx] = prior_sd**2
    prec[:, idx, idx] = 1.0 / prior_sd**2
    return cov, prec


@runtime_checkable
class RewardModel(Protocol):
    """What every reward model provides to the agent.

    Implementations learn online from the arm that was offered and its binary label, and
    predict for every arm at once (vectorized over customers).
    """

    @property
    def n_arms(self) -> int:
        """Number of arms (products) the model holds."""
        ...

    def predict(self, design: Design, *, with_uncertainty: bool = True) -> Prediction:
        """Belief about every (customer, arm) outcome, shape (n, K)."""
        ...

    def partial_fit(self, design: Design, arm: np.ndarray, y: np.ndarray) -> RewardModel:
        """Learn from outcomes: row i of ``design`` was offered ``arm[i]`` with label ``y[i]``."""
        ...

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-arm weights (K, D) and their standard deviations (K, D)."""
        ...

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and arrays from which :meth:`set_state` restores the model."""
        ...

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RewardModel:
        """Restore the state :meth:`get_state` returned."""
        ...

    def add_arm(self, prior_mean: np.ndarray, prior_sd: np.ndarray) -> None:
        """Add an arm (a product launch) starting from the given prior; other arms untouched."""
        ...

    def decay(self, factor: float) -> None:
        """Forget: let the evidence seen so far count ``factor`` (in (0, 1]) times as much."""
        ...


def row_products(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W.T`` for two rows or more, each row's sums in one order whatever rows share it.

    BLAS gives a row other last bits by its position in the product (its kernels for the
    edges of a block differ from the rest), and the logged probabilities must not depend on
    how customers are grouped. einsum sums a row's products in an order set by the
    operands' layout: over Fortran-ordered rows (the featurizer builds X column by column)
    it runs down the rows, vectorized over customers. A one-row matrix is C-ordered as
    well, and einsum would sum it along the row instead: predict one row with
    :func:`predict_one_row_as_two`.
    """
    return np.asarray(np.einsum("nd,kd->nk", np.asfortranarray(X), W))


def predict_one_row_as_two(
    model: RewardModel, design: Design, *, with_uncertainty: bool
) -> Prediction:
    """``model.predict`` of a one-row design, computed on two copies of the row, so that a
    customer decided alone takes the same arithmetic as among others (see
    :func:`row_products`)."""
    two = Design(*(np.repeat(a, 2, axis=0) for a in (design.X, design.E, design.propensity)))
    p = model.predict(two, with_uncertainty=with_uncertainty)
    return Prediction(p.loc[:1], None if p.scale is None else p.scale[:1], p.link)
