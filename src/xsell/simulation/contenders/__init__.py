"""Policies that compete in the arena, behind one small interface (:class:`Contender`)."""

from xsell.simulation.contenders.agents import XsellAgent
from xsell.simulation.contenders.base import Contender, ContenderFactory, Offers, Setup
from xsell.simulation.contenders.baselines import (
    NoOffer,
    Oracle,
    PropensityGreedy,
    RandomOffer,
    SegmentRules,
)
from xsell.simulation.contenders.learners import EpsilonGreedyValue
from xsell.simulation.contenders.peers import MABWiserBandit, VowpalWabbitBandit

__all__ = [
    "Contender",
    "ContenderFactory",
    "EpsilonGreedyValue",
    "MABWiserBandit",
    "NoOffer",
    "Offers",
    "Oracle",
    "PropensityGreedy",
    "RandomOffer",
    "SegmentRules",
    "Setup",
    "VowpalWabbitBandit",
    "XsellAgent",
]
