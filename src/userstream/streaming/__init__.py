"""The Spark Structured Streaming job: Kafka → judge, clean → Cassandra.

Modules, by what they do: ``records`` (one Kafka record → a profile or a reject with its
reason: the data contract, pure Python), ``cassandra_writer`` (one partition of a micro-batch
written to Cassandra, in Spark's Python workers), ``dlq`` (dead letters), ``batch_writer`` (the
per-micro-batch ``foreachBatch``), ``schema`` (the tables' columns), ``session`` (the
SparkSession), ``job`` (the query and the driver loop), ``progress`` (the last progress on
disk), ``control`` (start/stop/status for others). Importing this package does not import
pyspark.
"""
