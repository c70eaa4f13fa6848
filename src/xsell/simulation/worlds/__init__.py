"""Simulated worlds with a known truth: the bank, email subject lines, telecom next-best-action."""

from xsell.simulation.worlds.bank import BANK_DEFAULTS, BankWorld
from xsell.simulation.worlds.base import Step, Truth, World, WorldSpec

__all__ = ["BANK_DEFAULTS", "BankWorld", "Step", "Truth", "World", "WorldSpec"]
