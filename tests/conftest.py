"""Shared fixtures: the sample catalog and customers, fixed times."""

from __future__ import annotations

import pandas as pd
import pytest

import xsell

AT = pd.Timestamp("2026-01-05T09:00:00Z")


@pytest.fixture(scope="session")
def catalog() -> xsell.Catalog:
    """The sample bank's catalog."""
    return xsell.Catalog.sample()


@pytest.fixture(scope="session")
def spec() -> xsell.FeatureSpec:
    """The sample bank's feature specification."""
    return xsell.sample_feature_spec()


@pytest.fixture
def customers() -> pd.DataFrame:
    """2,000 sample-bank customers (a fresh copy per test)."""
    return xsell.make_customers(2_000, seed=11)
