"""The exceptions xsell raises.

Every error names the field (column, product, parameter) and the problem, so a bank's
engineer can fix the input without reading xsell's code::

    XsellError
    ├── CatalogError (ValueError)         a catalog file or entry is invalid
    ├── InputError (ValueError)           customers/outcomes/arguments are invalid
    │   └── SchemaError                   a column is missing or has the wrong type
    ├── UnknownDecisionError (KeyError)   an outcome names a decision the agent does not know
    ├── NotFittedError (RuntimeError)     the featurizer was used before it was fitted
    ├── MissingExtraError (ImportError)   an optional extra (e.g. ``spark``) is not installed
    └── PersistenceError (ValueError)     a saved agent is corrupted, foreign or of another version

The service maps these to HTTP 4xx and the command line to exit code 2.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "InputError",
    "MissingExtraError",
    "NotFittedError",
    "PersistenceError",
    "SchemaError",
    "UnknownDecisionError",
    "XsellError",
]


class XsellError(Exception):
    """Base class of every error raised by xsell."""


class CatalogError(XsellError, ValueError):
    """A catalog is invalid; the message names the product and the field."""


class InputError(XsellError, ValueError):
    """An input (customers, outcomes, an argument) is invalid; the message names the field."""


class SchemaError(InputError):
    """A required column is missing or has the wrong type."""


class UnknownDecisionError(XsellError, KeyError):
    """An outcome refers to a decision id the agent does not hold."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(XsellError, RuntimeError):
    """A component was used before it was fitted."""


class PersistenceError(XsellError, ValueError):
    """A saved agent cannot be read: corrupted, foreign or of an unsupported version."""


class MissingExtraError(XsellError, ImportError):
    """A feature needs an optional extra that is not installed; the message names it."""
