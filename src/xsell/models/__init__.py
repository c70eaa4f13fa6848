"""Reward models: P(outcome | customer, product) and its uncertainty."""

from xsell.models.base import Prediction, RewardModel, to_probability
from xsell.models.bayes_logistic import BayesianLogisticRegression

__all__ = ["BayesianLogisticRegression", "Prediction", "RewardModel", "to_probability"]
