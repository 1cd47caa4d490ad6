"""Which Random User API to use: the real one, the local stand-in, or a given URL.

``open_source(settings, kind)`` is a context manager because the stand-in, when chosen,
runs in-process for exactly as long as the caller needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson

from userstream.config import SourceSettings
from userstream.errors import ConfigError
from userstream.source.fake_server import FakeApiServer

log = logging.getLogger(__name__)

# `auto` must decide quickly: the probe asks for one user and waits this long at most.
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ResolvedSource:
    url: str  # the versioned base URL to give RandomUserClient
    kind: Literal["randomuser", "local", "url"]
    description: str  # one line for the user, e.g. "local stand-in at http://…/api/1.4/ (…)"


def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``url`` answers like a Random User API, else why not (a short phrase)."""
    try:
        response = httpx.get(
            url, params={"results": 1, "seed": "userstream-probe"}, timeout=timeout_s
        )
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "the answer is not JSON"
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return "the answer has no 'results' list"
    return None


def check_url(url: str) -> str:
    """``url`` as a base URL (ending in ``/``) when it is an http(s) URL with a host.

    Raises ``ConfigError`` otherwise; used for a source given as a URL.
    """
    choice = url.strip()
    try:
        parsed = httpx.URL(choice)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"Unknown source {url!r}.",
            hint="Use auto, randomuser, local, or the http(s) base URL of a Random User API.",
        )
    return choice if choice.endswith("/") else choice + "/"


@contextmanager
def open_source(settings: SourceSettings, kind: str) -> Iterator[ResolvedSource]:
    """Resolve ``kind`` to a usable API base URL for the duration of the ``with`` block.

    - ``auto``: ``settings.url`` when it answers a 1-user probe within ~3 s, otherwise an
      in-process stand-in (the description says why);
    - ``randomuser``: ``settings.url``, unprobed;
    - ``local``: an in-process stand-in on ``settings.fake_host``, ephemeral port, stopped on exit;
    - anything else: taken as the base URL of a compatible API (``http://`` or ``https://``).
    """
    choice = kind.strip()
    if choice == "randomuser":
        yield ResolvedSource(settings.url, "randomuser", f"the Random User API at {settings.url}")
    elif choice == "local":
        with FakeApiServer(settings.fake_host, 0) as api:
            yield ResolvedSource(api.url, "local", f"local stand-in at {api.url}")
    elif choice == "auto":
        reason = probe(settings.url)
        if reason is None:
            log.info("source_resolved kind=randomuser url=%s", settings.url)
            yield ResolvedSource(
                settings.url, "randomuser", f"the Random User API at {settings.url}"
            )
            return
        host = httpx.URL(settings.url).host or settings.url
        log.warning("source_fallback url=%s reason=%r", settings.url, reason)
        with FakeApiServer(settings.fake_host, 0) as api:
            yield ResolvedSource(
                api.url, "local", f"local stand-in at {api.url} ({host} did not answer: {reason})"
            )
    else:
        base = check_url(choice)
        yield ResolvedSource(base, "url", f"the API at {base}")
