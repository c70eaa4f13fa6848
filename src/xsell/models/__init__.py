"""Reward models: P(outcome | customer, product) and its uncertainty."""

from xsell.models.base import Prediction, RewardModel, to_probability
from xsell.models.bayes_logistic import BayesianLogisticRegression
from xsell.models.beta_bernoulli import BetaBernoulli
from xsell.models.ridge import RidgeRegression
from xsell.models.sgd_oracle import SGDOracle

__all__ = [
    "BayesianLogisticRegression",
    "BetaBernoulli",
    "Prediction",
    "RewardModel",
    "RidgeRegression",
    "SGDOracle",
    "to_probability",
]
