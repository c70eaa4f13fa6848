"""Simulated banks with a known truth, the closed loop, and the policy arena.

``xsell.simulation.traffic`` (imported on its own: it needs httpx) plays a world against
the HTTP service.
"""

from xsell.simulation.arena import run_contender
from xsell.simulation.bank import SampleBank, make_customers, sample_feature_spec
from xsell.simulation.contenders import Contender, Offers, Setup
from xsell.simulation.live import LiveWorld
from xsell.simulation.loop import Round, run_rounds
from xsell.simulation.runner import ArenaResult, run_arena
from xsell.simulation.scenarios import CONTENDERS, SCENARIOS, Scenario
from xsell.simulation.transactions import TRANSACTION_COLUMNS, generate_transactions
from xsell.simulation.worlds import BankWorld, World, WorldSpec

__all__ = [
    "CONTENDERS",
    "SCENARIOS",
    "TRANSACTION_COLUMNS",
    "ArenaResult",
    "BankWorld",
    "Contender",
    "LiveWorld",
    "Offers",
    "Round",
    "SampleBank",
    "Scenario",
    "Setup",
    "World",
    "WorldSpec",
    "generate_transactions",
    "make_customers",
    "run_arena",
    "run_contender",
    "run_rounds",
    "sample_feature_spec",
]
