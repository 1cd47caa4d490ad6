"""The local runtime: JVM jars from Maven Central, and the Kafka, Cassandra, Spark and Airflow processes."""
