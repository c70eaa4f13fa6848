"""Simulated worlds with a known truth: the bank, email subject lines, telecom next-best-action."""

from xsell.simulation.worlds.bank import BANK_DEFAULTS, BankWorld
from xsell.simulation.worlds.base import Step, Truth, World, WorldSpec
from xsell.simulation.worlds.email import EMAIL_DEFAULTS, EmailWorld
from xsell.simulation.worlds.telecom import TELECOM_DEFAULTS, TelecomTruth, TelecomWorld

__all__ = [
    "BANK_DEFAULTS",
    "EMAIL_DEFAULTS",
    "TELECOM_DEFAULTS",
    "BankWorld",
    "EmailWorld",
    "Step",
    "TelecomTruth",
    "TelecomWorld",
    "Truth",
    "World",
    "WorldSpec",
]
