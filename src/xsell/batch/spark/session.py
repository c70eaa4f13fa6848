"""The Spark side of xsell's optional ``spark`` extra: importing PySpark, making a session.

PySpark is imported only when Spark is used, so ``import xsell`` (and every other engine)
works without it; without the extra, :func:`require_pyspark` raises
:class:`~xsell.errors.MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

from xsell.errors import MissingExtraError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["require_pyspark", "spark_session"]

#: what to install, named in the error
EXTRA_HINT = "pip install 'xsell[spark]' (PySpark; Spark needs Java 17 or newer)"


def require_pyspark() -> ModuleType:
    """``pyspark.sql``, or a clear error naming the ``spark`` extra when it is missing."""
    try:
        return importlib.import_module("pyspark.sql")
    except ImportError as exc:
        raise MissingExtraError(
            f"scoring on Spark needs the 'spark' extra, which is not installed ({exc}): "
            f"{EXTRA_HINT}"
        ) from None


def spark_session(
    master: str = "local[*]",
    *,
    app_name: str = "xsell-batch",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """A Spark session set up for xsell's batch (or the running one, reconfigured).

    On a ``local`` master the Python workers run this interpreter (so they import the same
    xsell, NumPy and pandas); on a cluster, xsell must be installed on the executors.
    Timestamps are written to Parquet as UTC microseconds, the decision log's own type.

    Parameters
    ----------
    master
        Spark master URL: ``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``...
    app_name
        The application's name in Spark's UI.
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` (default: Spark's; a local test wants few).
    driver_memory
        ``spark.driver.memory`` (a local master's executors live in the driver).
    config
        Further Spark settings, set when the session is made.
    """
    sql = require_pyspark()
    local = master.startswith("local")
    builder = sql.SparkSession.builder.master(master).appName(app_name)
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.pyspark.python", sys.executable)
        builder = builder.config("spark.ui.enabled", "false")
    if driver_memory is not None:
        builder = builder.config("spark.driver.memory", driver_memory)
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    session: SparkSession = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    if shuffle_partitions is not None:
        session.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return session
