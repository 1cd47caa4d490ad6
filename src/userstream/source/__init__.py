"""The Random User API: a client with retries and pacing, and a local stand-in server.

- :mod:`userstream.source.client` — :class:`RandomUserClient`, one page per call.
- :mod:`userstream.source.standin.server` — :class:`FakeApiServer`, the offline stand-in.
- :mod:`userstream.source.resolve` — :func:`open_source`, which of the two to use.

The API's limits (users per request, pages per seed) are part of ``userstream.contract``.
"""
