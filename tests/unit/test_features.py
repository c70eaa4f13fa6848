"""Featurization: frozen scaling, bounded values, missing data, clear schema errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import FeatureSpec, Featurizer, InputError, NotFittedError, SchemaError


def _frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], **cols})


SPEC = FeatureSpec(
    numeric=("income",), categorical=("segment",), boolean=("vip",), market=("fx",), consent=None
)


def _ref() -> pd.DataFrame:
    return _frame(
        income=[10.0, 20.0, 30.0, 40.0],
        segment=["a", "b", "a", "c"],
        vip=[True, False, False, True],
        fx=[0.0, 1.0, 2.0, 1.0],
        propensity_card=[0.1, 0.2, 0.3, 0.4],
    )


def test_scaling_is_fitted_once_and_frozen() -> None:
    f = Featurizer(SPEC, ["card"]).fit(_ref())
    other = _ref().assign(income=[1000.0, 2000.0, 3000.0, 4000.0])
    d = f.transform(other)
    # still standardized with the reference's mean and sd, then clipped
    assert d.X[:, 1].max() == SPEC.clip
    assert f.feature_names == [
        "intercept",
        "income",
        "fx",
        "vip",
        "segment=a",
        "segment=b",
        "segment=c",
    ]


def test_values_far_outside_the_reference_are_bounded() -> None:
    f = Featurizer(SPEC, ["card"]).fit(_ref())
    d = f.transform(_ref().assign(fx=[1e9, -1e9, np.inf, np.nan]))
    np.testing.assert_array_equal(d.X[:, 2], [SPEC.clip, -SPEC.clip, SPEC.clip, 0.0])


def test_missing_values_and_unseen_categories() -> None:
    f = Featurizer(SPEC, ["card"]).fit(_ref())
    d = f.transform(
        _ref().assign(
            income=[np.nan, 20.0, 30.0, 40.0],
            segment=["zzz", None, "a", "b"],
            vip=[np.nan, 1, 0, 1],
        )
    )
    assert d.X[0, 1] == 0.0  # imputed at the reference mean
    np.testing.assert_array_equal(d.X[0, 4:], 0.0)  # unseen level: all zeros
    np.testing.assert_array_equal(d.X[1, 4:], 0.0)  # missing level: all zeros
    assert d.X[0, 3] == 0.0  # missing boolean counts as false


def test_propensities_are_clipped_and_missing_ones_flagged() -> None:
    f = Featurizer(SPEC, ["card"]).fit(_ref())
    d = f.transform(_ref().assign(propensity_card=[0.0, 1.0, np.nan, 0.5]))
    eps = SPEC.propensity_clip
    np.testing.assert_allclose(d.propensity[:2, 0], [eps, 1 - eps])
    np.testing.assert_array_equal(d.E[:, 0, 1], [0, 0, 1, 0])
    assert d.E[2, 0, 0] == 0.0


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda df: df.drop(columns="income"), SchemaError, "missing the required column 'income'"),
        (
            lambda df: df.assign(income=["a", "b", "c", "d"]),
            SchemaError,
            "column 'income' must be numeric",
        ),
        (
            lambda df: df.assign(vip=["y", "n", "y", "n"]),
            SchemaError,
            "column 'vip' must be boolean",
        ),
        (lambda df: df.assign(vip=[2, 0, 1, 0]), SchemaError, "column 'vip' must be boolean"),
        (lambda df: df.drop(columns="propensity_card"), SchemaError, "'propensity_card'"),
        (
            lambda df: df.assign(propensity_card=[0.1, 1.2, 0.3, 0.4]),
            InputError,
            r"must hold probabilities in \[0, 1\], got 1.2",
        ),
        (
            lambda df: df.drop(columns="customer_id"),
            SchemaError,
            "customer id column 'customer_id'",
        ),
    ],
)
def test_schema_errors_name_the_column(change, error, match) -> None:
    f = Featurizer(SPEC, ["card"]).fit(_ref())
    with pytest.raises(error, match=match):
        xsell.features.check_customers(change(_ref()), SPEC)
        f.transform(change(_ref()))


def test_transform_before_fit_is_refused() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        Featurizer(SPEC, ["card"]).transform(_ref())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"numeric": ("age", "gender"), "protected": ("gender",)},
            "protected attributes never enter the model",
        ),
        ({"numeric": ("age",), "categorical": ("age",)}, "listed twice"),
        ({"numeric": "age"}, "must be a sequence of column names"),
        ({"propensity": "score"}, "must contain '{product}'"),
        ({"clip": 0}, "`clip` must be > 0"),
    ],
)
def test_bad_specs(kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        FeatureSpec(**kwargs)
