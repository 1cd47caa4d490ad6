"""The local runtime: jars from Maven Central; Kafka, Cassandra, Spark and Airflow processes."""
