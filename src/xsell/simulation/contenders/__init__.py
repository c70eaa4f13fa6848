"""Policies that compete in the arena, behind one small interface (:class:`Contender`)."""

from xsell.simulation.contenders.agents import XsellAgent
from xsell.simulation.contenders.base import Contender, ContenderFactory, Offers, Setup
from xsell.simulation.contenders.baselines import (
    BANK_SEGMENT_RULES,
    NoOffer,
    Oracle,
    PropensityGreedy,
    RandomOffer,
    SegmentRules,
)

__all__ = [
    "BANK_SEGMENT_RULES",
    "Contender",
    "ContenderFactory",
    "NoOffer",
    "Offers",
    "Oracle",
    "PropensityGreedy",
    "RandomOffer",
    "SegmentRules",
    "Setup",
    "XsellAgent",
]
