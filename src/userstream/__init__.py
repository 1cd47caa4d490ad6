"""userstream: Random User API → Kafka → Spark Structured Streaming → Cassandra, run by Airflow."""

__version__ = "0.2.0"
