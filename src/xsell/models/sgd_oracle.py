"""The interpretable baseline: one scikit-learn SGD logistic regression per product."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from xsell.errors import InputError
from xsell.features.featurizer import Design
from xsell.models.base import Prediction, check_design
from xsell.models.ridge import _batch, _factor, _prior

if TYPE_CHECKING:  # scikit-learn is imported on first use: it costs a service worker ~1 s to start
    from sklearn.linear_model import SGDClassifier

__all__ = ["SGDOracle"]

_LEARNING_RATES = ("constant", "optimal", "invscaling")


class SGDOracle:
    """One ``SGDClassifier(loss="log_loss")`` per arm, updated by ``partial_fit``.

    Arm ``k`` sees ``[X, E[:, k]]`` like :class:`~xsell.models.BayesianLogisticRegression`,
    except that X's intercept column is dropped: sklearn's own (unpenalized) intercept
    plays its part, so ``coefficients()[0][:, 0]`` is ``intercept_`` and the rest is
    ``coef_``. Each classifier starts at the prior mean (``intercept_`` from column 0,
    ``coef_`` from the rest), and sklearn's ``partial_fit`` continues from an existing
    ``coef_``: untrained predictions are exactly the logistic prior's. There is no
    uncertainty (``scale=None``): use it with greedy or epsilon-greedy policies.

    ``sklearn``'s L2 penalty ``alpha`` shrinks ``coef_`` toward 0, not toward the prior,
    and the learning rate schedule (``t_``) is per arm. The default constant rate
    ``eta0 = 0.01`` keeps the warm start: the ``"optimal"`` schedule's first steps are
    of order ``alpha ** -0.25`` (10 for ``alpha = 1e-4``) and wipe it out.

    Parameters
    ----------
    prior_mean, prior_sd
        Arrays of shape (K, D) on the logit scale; ``prior_sd`` is only validated and saved.
    n_shared
        Number of shared inputs ``d`` (intercept included).
    alpha, learning_rate, eta0, power_t, shuffle, random_state
        Passed to every ``SGDClassifier``; ``random_state`` must be an int so that
        learning is reproducible.

    Examples
    --------
    >>> import numpy as np
    >>> from xsell.features import Design
    >>> m = SGDOracle(np.array([[-2.0, 0.0], [-1.0, 0.0]]), np.ones((2, 2)), n_shared=2)
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> d = Design(X, np.zeros((4, 2, 0)), np.full((4, 2), np.nan))
    >>> m.predict(d).loc[0].tolist()  # untrained: the prior
    [-2.0, -1.0]
    >>> _ = m.partial_fit(d, np.array([0, 0, 0, 0]), np.array([0, 0, 1, 1]))
    >>> bool(m.predict(d).loc[3, 0] > m.predict(d).loc[0, 0])
    True
    """

    def __init__(
        self,
        prior_mean: np.ndarray,
        prior_sd: np.ndarray,
        *,
        n_shared: int,
        alpha: float = 1e-5,
        learning_rate: str = "constant",
        eta0: float = 0.01,
        power_t: float = 0.5,
        shuffle: bool = True,
        random_state: int = 0,
    ) -> None:
        prior_mean, prior_sd = _prior(prior_mean, prior_sd)
        if not 0 < n_shared <= prior_mean.shape[1]:
            raise InputError(f"`n_shared` must be in [1, {prior_mean.shape[1]}], got {n_shared}")
        if not alpha >= 0:
            raise InputError(f"`alpha` must be >= 0, got {alpha!r}")
        if learning_rate not in _LEARNING_RATES:
            raise InputError(
                f"`learning_rate` must be one of {_LEARNING_RATES}, got {learning_rate!r}"
            )
        if learning_rate == "optimal" and alpha == 0:
            raise InputError("`alpha` must be > 0 with learning_rate='optimal'")
        if learning_rate != "optimal" and not eta0 > 0:
            raise InputError(f"`eta0` must be > 0, got {eta0!r}")
        if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
            raise InputError(f"`random_state` must be an int, got {random_state!r}")
        self.n_shared = n_shared
        self.params: dict[str, Any] = {
            "alpha": float(alpha),
            "learning_rate": learning_rate,
            "eta0": float(eta0),
            "power_t": float(power_t),
            "shuffle": bool(shuffle),
            "random_state": int(random_state),
        }
        self.prior_mean_ = prior_mean
        self.prior_sd_ = prior_sd
        self.classifiers_ = [self._start(m) for m in prior_mean]
        self.n_seen_ = np.zeros(len(prior_mean), dtype=np.int64)

    def _start(self, weights: np.ndarray) -> SGDClassifier:
        """A classifier at the given weights (intercept first) that continues learning."""
        from sklearn.linear_model import SGDClassifier

        clf = SGDClassifier(loss="log_loss", penalty="l2", average=False, **self.params)
        clf.coef_ = np.array(weights[1:], dtype=np.float64, order="C").reshape(1, -1)
        clf.intercept_ = np.array(weights[:1], dtype=np.float64)
        return clf

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return len(self.classifiers_)

    @property
    def n_inputs(self) -> int:
        """Inputs per arm ``D`` (X's intercept column included)."""
        return int(self.prior_mean_.shape[1])

    @property
    def mean_(self) -> np.ndarray:
        """Current weights (K, D): intercept, then ``coef_``."""
        return np.array([np.concatenate([c.intercept_, c.coef_[0]]) for c in self.classifiers_])

    def _check(self, design: Design) -> None:
        check_design(design, n_shared=self.n_shared, n_inputs=self.n_inputs, n_arms=self.n_arms)

    def predict(self, design: Design, *, with_uncertainty: bool = True) -> Prediction:
        """Every arm's ``decision_function`` (logit), shape (n, K); never an uncertainty."""
        self._check(design)
        W, d = self.mean_, self.n_shared
        loc = design.X[:, 1:] @ W[:, 1:d].T + W[:, 0]
        if self.n_inputs > d:
            loc += np.einsum("nke,ke->nk", design.E, W[:, d:])
        return Prediction(loc, None, "logit")

    def partial_fit(self, design: Design, arm: np.ndarray, y: np.ndarray) -> SGDOracle:
        """One SGD epoch over each touched arm's rows (in their order in the batch)."""
        self._check(design)
        arm, y = _batch(design.n, self.n_arms, arm, y)
        if not np.isin(y, (0.0, 1.0)).all():
            raise InputError("`y` must be 0 or 1")
        for k in np.unique(arm).tolist():
            rows = np.flatnonzero(arm == k)
            Z = np.hstack([design.X[rows, 1:], design.E[rows, k, :]])
            self.classifiers_[k].partial_fit(Z, y[rows].astype(np.int64), classes=[0, 1])
            self.n_seen_[k] += len(rows)
        return self

    def decay(self, factor: float) -> None:
        """Shrink the weights toward the prior mean: ``w ← f·w + (1−f)·m0``.

        SGD forgets old data through its learning rate already; this extra pull toward the
        prior keeps :meth:`decay` meaning the same for every model. The learning-rate state
        ``t_`` is left alone. ``factor`` in (0, 1]; 1 changes nothing.
        """
        f = _factor(factor)
        if f == 1.0:
            return
        for clf, m0 in zip(self.classifiers_, self.prior_mean_, strict=True):
            clf.intercept_ = f * clf.intercept_ + (1.0 - f) * m0[:1]
            clf.coef_ = np.ascontiguousarray(f * clf.coef_ + (1.0 - f) * m0[1:])

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Current weights (K, D) and standard deviations (all NaN: SGD has none)."""
        W = self.mean_
        return W, np.full_like(W, np.nan)

    def add_arm(self, prior_mean: np.ndarray, prior_sd: np.ndarray) -> None:
        """Append an arm starting at its prior mean; no other arm changes."""
        pm, ps = _prior(np.reshape(prior_mean, (1, -1)), np.reshape(prior_sd, (1, -1)))
        if pm.shape != (1, self.n_inputs):
            raise InputError(
                f"`prior_mean` must have shape ({self.n_inputs},), got {np.shape(prior_mean)}"
            )
        self.prior_mean_ = np.vstack([self.prior_mean_, pm])
        self.prior_sd_ = np.vstack([self.prior_sd_, ps])
        self.classifiers_.append(self._start(pm[0]))
        self.n_seen_ = np.append(self.n_seen_, 0)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays (no pickle): every fitted attribute sklearn continues from.

        ``_loss_function_`` is not saved: ``partial_fit`` rebuilds it on every call.
        """
        fitted = np.array([hasattr(c, "classes_") for c in self.classifiers_])
        meta = {"n_shared": self.n_shared, "params": dict(self.params)}
        arrays = {
            "prior_mean": self.prior_mean_,
            "prior_sd": self.prior_sd_,
            "weights": self.mean_,
            "fitted": fitted,
            "t": np.array([getattr(c, "t_", 1.0) for c in self.classifiers_], dtype=np.float64),
            "n_iter": np.array([getattr(c, "n_iter_", 0) for c in self.classifiers_]),
            "class_weight": np.array(
                [getattr(c, "_expanded_class_weight", np.ones(2)) for c in self.classifiers_],
                dtype=np.float64,
            ).reshape(-1, 2),
            "n_seen": self.n_seen_,
        }
        return meta, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> SGDOracle:
        """Restore what :meth:`get_state` returned."""
        self.n_shared = int(meta["n_shared"])
        self.params = dict(meta["params"])
        self.prior_mean_ = np.array(arrays["prior_mean"], dtype=np.float64)
        self.prior_sd_ = np.array(arrays["prior_sd"], dtype=np.float64)
        self.n_seen_ = np.array(arrays["n_seen"], dtype=np.int64)
        self.classifiers_ = []
        for k, w in enumerate(np.asarray(arrays["weights"], dtype=np.float64)):
            clf = self._start(w)
            if arrays["fitted"][k]:
                clf.classes_ = np.array([0, 1])
                clf.n_features_in_ = len(w) - 1
                clf.t_ = float(arrays["t"][k])
                clf.n_iter_ = int(arrays["n_iter"][k])
                clf._expanded_class_weight = np.array(arrays["class_weight"][k], dtype=np.float64)
            self.classifiers_.append(clf)
        return self

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> SGDOracle:
        """Build a model from saved state."""
        m = cls(
            arrays["prior_mean"],
            arrays["prior_sd"],
            n_shared=int(meta["n_shared"]),
            **meta["params"],
        )
        return m.set_state(meta, arrays)
