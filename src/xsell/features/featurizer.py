"""Customer context → model inputs.

The featurizer turns a customer table into a :class:`Design`: a shared matrix ``X`` (one
row per customer, an intercept first) and arm-specific inputs ``E`` (per product: the
centred logit of the bank's propensity score and a missing-propensity flag). Scaling,
category levels and propensity centres are fitted once and then frozen, so the same
customer always gets the same inputs, and they are saved with the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.errors import InputError, NotFittedError, SchemaError
from xsell.features.records import CustomerRecords, NotExact
from xsell.features.spec import FeatureSpec

__all__ = ["Design", "Featurizer", "check_customers"]

#: names of the arm-specific inputs, in the order of the last axis of ``Design.E``
ARM_INPUTS = ("propensity_logit", "propensity_missing")


@dataclass(frozen=True, slots=True)
class Design:
    """Model inputs for ``n`` customers and ``K`` products.

    Attributes
    ----------
    X
        Shared inputs, shape (n, d); column 0 is the intercept.
    E
        Arm-specific inputs, shape (n, K, e): centred propensity logit and missing flag
        (``e == 0`` without a propensity model).
    propensity
        The clipped propensity scores, shape (n, K) (NaN where missing or without a model).
    """

    X: np.ndarray
    E: np.ndarray
    propensity: np.ndarray

    @property
    def n(self) -> int:
        """Number of customers."""
        return int(self.X.shape[0])

    def rows(self, idx: np.ndarray) -> Design:
        """The design restricted to some customers."""
        return Design(self.X[idx], self.E[idx], self.propensity[idx])


def check_customers(
    df: pd.DataFrame, spec: FeatureSpec, *, what: str = "customers", unique: bool = True
) -> None:
    """Check that a customer table has the id column, no missing ids and (``unique``) no
    duplicated ones."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"`{what}` must be a pandas DataFrame, got {type(df).__name__}")
    if spec.customer_id not in df.columns:
        raise SchemaError(f"`{what}` is missing the customer id column {spec.customer_id!r}")
    ids = df[spec.customer_id]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputError(f"`{what}` column {spec.customer_id!r} has a missing id (row {row})")
    if unique:
        duplicated_ids(ids, what=what)


def duplicated_ids(ids: pd.Series, *, what: str = "customers") -> None:
    """Raise :class:`InputError` naming the first duplicated customer id."""
    dup = ids.duplicated()
    if dup.any():
        first = ids[dup].iloc[0]
        raise InputError(
            f"`{what}` column {ids.name!r} has duplicated customer id {first!r} "
            f"({int(dup.sum())} duplicates); decide each customer once per call"
        )


#: a customer table: a DataFrame, or records read without pandas
Table = pd.DataFrame | CustomerRecords


def _numeric(df: Table, col: str, what: str) -> np.ndarray:
    if isinstance(df, CustomerRecords):
        return df.numeric(col)
    if col not in df.columns:
        raise SchemaError(f"`{what}` is missing the required column {col!r}")
    s = df[col]
    if s.dtype == bool:
        return s.to_numpy(dtype=np.float64)
    if not pd.api.types.is_numeric_dtype(s.dtype):
        raise SchemaError(f"`{what}` column {col!r} must be numeric, got dtype {s.dtype}")
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _boolean(df: Table, col: str, what: str) -> np.ndarray:
    if isinstance(df, CustomerRecords):
        return df.flags(col).astype(np.float64)
    if col not in df.columns:
        raise SchemaError(f"`{what}` is missing the required column {col!r}")
    s = df[col]
    if s.dtype == bool:
        return s.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == "boolean":
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isnan(v) | (v == 0) | (v == 1)
        if not ok.all():
            bad = float(v[~ok][0])
            raise SchemaError(
                f"`{what}` column {col!r} must be boolean (true/false or 0/1), got {bad:g}"
            )
        return np.asarray(np.nan_to_num(v, nan=0.0))
    raise SchemaError(f"`{what}` column {col!r} must be boolean, got dtype {s.dtype}")


class Featurizer:
    """Fit-once transformation of customer tables into a :class:`Design`.

    Parameters
    ----------
    spec
        The feature specification.
    product_ids
        Products in catalog order (one propensity column each).

    Examples
    --------
    >>> from xsell import FeatureSpec, Featurizer
    >>> import pandas as pd
    >>> df = pd.DataFrame({"customer_id": ["a", "b"], "age": [30.0, 50.0],
    ...                    "propensity_card": [0.1, None]})
    >>> f = Featurizer(FeatureSpec(numeric=("age",), consent=None), ["card"]).fit(df)
    >>> d = f.transform(df)
    >>> d.X.shape, d.E.shape
    ((2, 2), (2, 1, 2))
    >>> f.feature_names
    ['intercept', 'age']
    """

    def __init__(self, spec: FeatureSpec, product_ids: Sequence[str]) -> None:
        self.spec = spec
        self.product_ids = list(product_ids)

    # -- fitting -----------------------------------------------------------------------
    def fit(self, df: pd.DataFrame) -> Featurizer:
        """Learn scaling, category levels and propensity centres from a reference table."""
        check_customers(df, self.spec, what="reference")
        spec = self.spec
        means, scales = [], []
        for col in spec.numeric + spec.market:
            v = _numeric(df, col, "reference")
            finite = v[np.isfinite(v)]
            mu = float(finite.mean()) if finite.size else 0.0
            sd = float(finite.std()) if finite.size > 1 else 1.0
            means.append(mu)
            scales.append(sd if sd > 1e-12 else 1.0)
        for col in spec.boolean:
            _boolean(df, col, "reference")
        self.mean_ = np.asarray(means, dtype=np.float64)
        self.scale_ = np.asarray(scales, dtype=np.float64)
        self.categories_: dict[str, list[str]] = {}
        for col in spec.categorical:
            if col not in df.columns:
                raise SchemaError(f"`reference` is missing the required column {col!r}")
            counts = df[col].dropna().astype(str).value_counts(sort=False)
            # most frequent first, ties by name: stable whatever the row order
            order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            self.categories_[col] = [str(k) for k, _ in order[: spec.max_categories]]
        centres, means = [], []
        for pid in self.product_ids:
            c, m = self._centres(df, pid)
            centres.append(c)
            means.append(m)
        self.propensity_centre_ = np.asarray(centres, dtype=np.float64)
        self.propensity_mean_ = np.asarray(means, dtype=np.float64)
        names = ["intercept"]
        names += list(spec.numeric + spec.market + spec.boolean)
        for col in spec.categorical:
            names += [f"{col}={lvl}" for lvl in self.categories_[col]]
        self.feature_names_ = names
        return self

    def _centres(self, df: pd.DataFrame | None, pid: str) -> tuple[float, float]:
        """Mean propensity of a product on the logit and on the probability scale."""
        if df is None or self.spec.propensity is None:
            return 0.0, float("nan")
        p = self._propensity(df, pid, "reference")
        finite = p[np.isfinite(p)]
        if not finite.size:
            return 0.0, float("nan")
        return float(np.mean(_logit(finite))), float(np.mean(finite))

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`set_state`) has run."""
        return hasattr(self, "feature_names_")

    @property
    def feature_names(self) -> list[str]:
        """Names of the columns of ``Design.X``."""
        self._check_fitted()
        return list(self.feature_names_)

    @property
    def n_features(self) -> int:
        """Number of shared inputs ``d`` (intercept included)."""
        self._check_fitted()
        return len(self.feature_names_)

    @property
    def n_arm_inputs(self) -> int:
        """Number of arm-specific inputs ``e`` (2 with a propensity model, else 0)."""
        return 0 if self.spec.propensity is None else len(ARM_INPUTS)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "the featurizer is not fitted; call fit() on a reference table first"
            )

    # -- transforming ----------------------------------------------------------------
    def _propensity(self, df: Table, pid: str, what: str) -> np.ndarray:
        col = self.spec.propensity_column(pid)
        if col is None:
            return np.full(len(df), np.nan)
        v = _numeric(df, col, what)
        bad = np.isfinite(v) & ((v < 0) | (v > 1))
        if bad.any():
            raise InputError(
                f"`{what}` column {col!r} must hold probabilities in [0, 1], got {float(v[bad][0]):g}"
            )
        eps = self.spec.propensity_clip
        return np.where(np.isfinite(v), np.clip(v, eps, 1 - eps), np.nan)

    def _record_propensities(self, records: CustomerRecords) -> np.ndarray:
        """:meth:`_propensity` of every product at once (a bad score: the DataFrame path says
        which)."""
        cols = [self.spec.propensity_column(pid) or "" for pid in self.product_ids]
        v = records.numeric_matrix(cols)
        finite = np.isfinite(v)
        if (finite & ((v < 0) | (v > 1))).any():
            raise NotExact("propensity")
        eps = self.spec.propensity_clip
        return np.asarray(np.where(finite, np.clip(v, eps, 1 - eps), np.nan))

    def transform(self, df: Table, *, what: str = "customers") -> Design:
        """Turn a customer table into model inputs.

        ``df`` may also be :class:`~xsell.features.records.CustomerRecords`: the same
        inputs, read without pandas (or :class:`~xsell.features.records.NotExact`).
        """
        self._check_fitted()
        spec = self.spec
        n = len(df)
        # column-major: the columns are filled one by one, each then a contiguous write
        X = np.zeros((n, len(self.feature_names_)), dtype=np.float64, order="F")
        X[:, 0] = 1.0
        clip = spec.clip
        scaled = spec.numeric + spec.market
        if isinstance(df, CustomerRecords):  # a few rows: all columns in a few NumPy calls
            V = (df.numeric_matrix(scaled) - self.mean_) / self.scale_
            np.clip(V, -clip, clip, out=V)
            X[:, 1 : 1 + len(scaled)] = np.nan_to_num(V, nan=0.0, posinf=clip, neginf=-clip)
        else:  # many rows: column by column, each a contiguous write (the same values)
            for i, col in enumerate(scaled):
                v = (_numeric(df, col, what) - self.mean_[i]) / self.scale_[i]
                np.clip(v, -clip, clip, out=v)
                X[:, 1 + i] = np.nan_to_num(v, nan=0.0, posinf=clip, neginf=-clip)
        j = 1 + len(scaled)
        for col in spec.boolean:
            X[:, j] = _boolean(df, col, what)
            j += 1
        for col in spec.categorical:
            if col not in df.columns:
                raise SchemaError(f"`{what}` is missing the required column {col!r}")
            levels = self.categories_[col]
            codes = (
                df.codes(col, levels)
                if isinstance(df, CustomerRecords)
                else category_codes(df[col], levels)
            )
            for level in range(len(levels)):  # a contiguous column each (column-major)
                X[:, j + level] = codes == level
            j += len(levels)
        K = len(self.product_ids)
        P = np.full((n, K), np.nan)
        E = np.zeros((n, K, self.n_arm_inputs), dtype=np.float64)
        if spec.propensity is not None:
            if isinstance(df, CustomerRecords):
                P = self._record_propensities(df)
            else:
                for k, pid in enumerate(self.product_ids):
                    P[:, k] = self._propensity(df, pid, what)
            missing = ~np.isfinite(P)
            E[:, :, 0] = np.where(
                missing, 0.0, _logit(np.where(missing, 0.5, P)) - self.propensity_centre_
            )
            E[:, :, 1] = missing
        return Design(X, E, P)

    # -- persistence -------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and arrays describing the fitted state."""
        self._check_fitted()
        meta = {"categories": self.categories_, "feature_names": self.feature_names_}
        arrays = {
            "mean": self.mean_,
            "scale": self.scale_,
            "propensity_centre": self.propensity_centre_,
            "propensity_mean": self.propensity_mean_,
        }
        return meta, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Featurizer:
        """Restore what :meth:`get_state` returned."""
        self.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        self.feature_names_ = list(meta["feature_names"])
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        self.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        self.propensity_centre_ = np.asarray(arrays["propensity_centre"], dtype=np.float64)
        self.propensity_mean_ = np.asarray(arrays["propensity_mean"], dtype=np.float64)
        return self

    def add_product(self, product_id: str, reference: pd.DataFrame | None = None) -> None:
        """Extend the frozen state to a product added to the catalog."""
        self._check_fitted()
        centre, mean = self._centres(reference, product_id)
        self.product_ids.append(product_id)
        self.propensity_centre_ = np.append(self.propensity_centre_, centre)
        self.propensity_mean_ = np.append(self.propensity_mean_, mean)


def category_codes(s: pd.Series, levels: list[str]) -> np.ndarray:
    """Index of each value in ``levels`` (compared as strings); -1 for missing or unseen."""
    arr = s.array
    pa_array = getattr(arr, "_pa_array", None)
    if pa_array is not None and (
        pa.types.is_string(pa_array.type) or pa.types.is_large_string(pa_array.type)
    ):
        # Arrow-backed strings (pandas' default): Arrow's hash lookup is ~8x faster
        codes = pc.fill_null(
            pc.index_in(pa_array, value_set=pa.array(levels, type=pa_array.type)), -1
        )
        return np.asarray(codes.to_numpy(), dtype=np.int64)
    values = s.astype(object).where(s.notna(), None)
    if not pd.api.types.is_string_dtype(s.dtype):
        values = values.map(lambda v: None if v is None else str(v))
    return np.asarray(
        pd.Index(levels, dtype=object).get_indexer(pd.Index(values, dtype=object)), dtype=np.int64
    )


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p) - np.log1p(-p))
