"""Simulated banks with a known truth, for demos, tests and policy comparisons."""

from xsell.simulation.bank import SampleBank, make_customers, sample_feature_spec

__all__ = ["SampleBank", "make_customers", "sample_feature_spec"]
