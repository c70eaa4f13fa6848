"""Prometheus metrics of one worker (its own registry, so apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """Counters of decisions, outcomes and errors, and a request latency histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "xsell_decisions", "Decisions made (one per offer slot)", registry=self.registry
        )
        self.outcomes = Counter(
            "xsell_outcomes", "Outcome events received", ["result"], registry=self.registry
        )
        self.errors = Counter(
            "xsell_errors", "Responses with an error status", ["status"], registry=self.registry
        )
        self.batch_size = Histogram(
            "xsell_decision_batch_size",
            "Decision requests decided together (see xsell.service.batcher)",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64),
            registry=self.registry,
        )
        self.latency = Histogram(
            "xsell_request_seconds",
            "Request latency",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)
