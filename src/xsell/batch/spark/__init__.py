"""The batch on Spark (the optional ``spark`` extra: ``pip install 'xsell[spark]'``).

* :func:`run_spark`: a customer file scored on Spark and loaded into the decision log
  (``xsell score --engine spark``).
* :func:`score_dataframe` / :func:`capacity_thresholds`: a Spark DataFrame of customers
  scored with the local batch's chunk scorer, the agent broadcast as bytes, the contact
  snapshot read from Parquet; one row per decision (:mod:`xsell.batch.log_table`).
* :func:`spark_session`: a session set up for it.

Importing this package does not import PySpark: using it without the extra raises
:class:`~xsell.errors.MissingExtraError`, which names the extra.
"""

from xsell.batch.spark.run import run_spark
from xsell.batch.spark.score import (
    BROADCAST_ROWS,
    capacity_thresholds,
    log_table_ddl,
    score_dataframe,
)
from xsell.batch.spark.session import require_pyspark, spark_session

__all__ = [
    "BROADCAST_ROWS",
    "capacity_thresholds",
    "log_table_ddl",
    "require_pyspark",
    "run_spark",
    "score_dataframe",
    "spark_session",
]
