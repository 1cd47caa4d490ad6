"""Orchestration: what the Airflow DAGs run (``tasks``), kept apart from the data path
(source → producing → Kafka → streaming → store) and from the local runtime (``stack``)."""
