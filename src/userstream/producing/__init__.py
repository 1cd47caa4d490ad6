"""The producer's parts: message building (``messages``), the Kafka sink (``sink``), pacing
and the live progress line. The entry point is :func:`userstream.producing.run.run_producer`."""
