"""Kafka as the pipeline uses it: each role's client settings and the topics with their ACLs."""
