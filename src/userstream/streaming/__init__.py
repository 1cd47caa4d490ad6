"""The Spark Structured Streaming job: Kafka → parse, validate, transform → Cassandra.

Modules, by what they do: ``schema`` (the API 1.4 record type), ``transforms`` (pure
DataFrame functions), ``validate`` (accept or reject with a reason), ``sinks`` (the
per-micro-batch writes), ``session`` (the SparkSession), ``job`` (the query itself),
``progress`` (the last progress on disk), ``control`` (start/stop/status for others).
Importing this package does not import pyspark.
"""
