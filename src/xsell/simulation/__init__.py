"""Simulated banks with a known truth, and the closed loop that runs an agent on one."""

from xsell.simulation.bank import SampleBank, make_customers, sample_feature_spec
from xsell.simulation.loop import Round, run_rounds

__all__ = ["Round", "SampleBank", "make_customers", "run_rounds", "sample_feature_spec"]
