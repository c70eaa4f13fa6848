"""Customer context → model inputs."""

from xsell.features.featurizer import ARM_INPUTS, Design, Featurizer, check_customers
from xsell.features.spec import FeatureSpec
from xsell.features.transactions import TransactionFeatures

__all__ = [
    "ARM_INPUTS",
    "Design",
    "FeatureSpec",
    "Featurizer",
    "TransactionFeatures",
    "check_customers",
]
