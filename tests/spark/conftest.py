"""One local Spark session for the Spark tests (starting one takes seconds: it is shared).

The tests need the ``spark`` extra (PySpark) and Java 17+; without them they fail, saying
so, and are never skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A ``local[2]`` session with two shuffle partitions (small data, little overhead)."""
    try:
        importlib.import_module("pyspark")
    except ImportError as exc:
        pytest.fail(
            f"the Spark tests need the spark extra (pip install -e '.[spark]'): {exc}",
            pytrace=False,
        )
    from xsell.batch.spark import spark_session

    session = spark_session(
        "local[2]",
        app_name="xsell-tests",
        shuffle_partitions=2,
        config={"spark.ui.showConsoleProgress": "false"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
