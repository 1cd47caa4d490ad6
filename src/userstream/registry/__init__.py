"""The Schema Registry: the clients' settings for any Confluent-compatible registry
(:mod:`userstream.registry.client_config`) and the small one of the project's own that the
local runtime starts when none is configured."""
