"""xsell: next-best-offer decisions for bank cross-selling.

Contextual bandits over interpretable reward models, warm-started from the bank's
propensity scores, behind guardrails no learning may override.

Examples
--------
>>> import xsell
>>> agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=1)
>>> decisions = agent.act(xsell.make_customers(100, seed=1), at="2026-01-05T09:00:00Z")
>>> sorted(set(decisions["product"].dropna())) <= sorted(agent.catalog.product_ids)
True
"""

from xsell.agent import Agent
from xsell.catalog import Catalog, Product, load_catalog
from xsell.errors import (
    CatalogError,
    InputError,
    NotFittedError,
    PersistenceError,
    SchemaError,
    UnknownDecisionError,
    XsellError,
)
from xsell.features import Design, FeatureSpec, Featurizer, TransactionFeatures
from xsell.guardrails import ContactHistory, InMemoryContactHistory, evaluate_guardrails
from xsell.models import (
    BayesianLogisticRegression,
    BetaBernoulli,
    Prediction,
    RewardModel,
    RidgeRegression,
    SGDOracle,
)
from xsell.policies import UCB, ActionValues, EpsilonGreedy, Greedy, Policy, ThompsonSampling
from xsell.prior import WarmStartPrior
from xsell.records import OfferResult, UpdateSummary
from xsell.simulation import SampleBank, make_customers, sample_feature_spec
from xsell.simulation.runner import ArenaResult, run_arena

__version__ = "0.1.0"

__all__ = [
    "UCB",
    "ActionValues",
    "Agent",
    "ArenaResult",
    "BayesianLogisticRegression",
    "BetaBernoulli",
    "Catalog",
    "CatalogError",
    "ContactHistory",
    "Design",
    "EpsilonGreedy",
    "FeatureSpec",
    "Featurizer",
    "Greedy",
    "InMemoryContactHistory",
    "InputError",
    "NotFittedError",
    "OfferResult",
    "PersistenceError",
    "Policy",
    "Prediction",
    "Product",
    "RewardModel",
    "RidgeRegression",
    "SGDOracle",
    "SampleBank",
    "SchemaError",
    "ThompsonSampling",
    "TransactionFeatures",
    "UnknownDecisionError",
    "UpdateSummary",
    "WarmStartPrior",
    "XsellError",
    "__version__",
    "evaluate_guardrails",
    "load_catalog",
    "make_customers",
    "run_arena",
    "sample_feature_spec",
]
