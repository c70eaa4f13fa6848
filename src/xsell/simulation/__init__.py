"""Simulated banks with a known truth, and the closed loop that runs an agent on one."""

from xsell.simulation.bank import SampleBank, make_customers, sample_feature_spec
from xsell.simulation.loop import Round, run_rounds
from xsell.simulation.transactions import TRANSACTION_COLUMNS, generate_transactions

__all__ = [
    "TRANSACTION_COLUMNS",
    "Round",
    "SampleBank",
    "generate_transactions",
    "make_customers",
    "run_rounds",
    "sample_feature_spec",
]
