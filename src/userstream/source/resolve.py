"""Which Random User API to use: the real one, the local stand-in, or a given URL.

``decide(settings, kind)`` is the one choice, and starts nothing. Its callers provide the
stand-in when it is the one: ``open_source`` (a context manager) runs it in-process for as
long as the caller needs it; ``userstream up`` (``pipeline.choose_source``) starts it as a
background process of the local runtime.
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
from userstream.source.standin.server import FakeApiServer

log = logging.getLogger(__name__)

# `auto` must decide quickly: the probe asks for one user and waits this long at most.
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Decision:
    kind: Literal["randomuser", "local", "url"]
    #: The versioned base URL; None for "local": the caller starts a stand-in.
    url: str | None
    #: One line for the user; for "local", why it is the stand-in ("" when asked for).
    description: str


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


def decide(
    settings: SourceSettings, kind: str, *, probe_timeout_s: float = PROBE_TIMEOUT_S
) -> Decision:
    """Resolve ``kind``, starting nothing:

    - ``auto``: ``settings.url`` when it answers a 1-user probe within ``probe_timeout_s``,
      otherwise the stand-in (the description says why);
    - ``randomuser``: ``settings.url``, unprobed;
    - ``local``: the stand-in;
    - anything else: taken as the base URL of a compatible API (``http://`` or ``https://``);
      ``ConfigError`` when it is not one.
    """
    choice = kind.strip()
    if choice == "randomuser":
        return Decision("randomuser", settings.url, f"the Random User API at {settings.url}")
    if choice == "local":
        return Decision("local", None, "")
    if choice == "auto":
        reason = probe(settings.url, timeout_s=probe_timeout_s)
        if reason is None:
            log.info("source_resolved kind=randomuser url=%s", settings.url)
            return Decision(
                "randomuser", settings.url, f"the Random User API at {settings.url} (it answered)"
            )
        host = httpx.URL(settings.url).host or settings.url
        log.warning("source_fallback url=%s reason=%r", settings.url, reason)
        return Decision("local", None, f"{host} did not answer: {reason}")
    base = check_url(choice)
    return Decision("url", base, f"the API at {base}")


def stand_in_description(url: str, why: str) -> str:
    return f"the local stand-in at {url}" + (f" ({why})" if why else "")


@contextmanager
def open_source(settings: SourceSettings, kind: str) -> Iterator[ResolvedSource]:
    """``decide`` ``kind`` and yield the source for the duration of the ``with`` block; the
    stand-in, when it is the one, runs in-process on ``settings.fake_host`` (an ephemeral
    port) and stops on exit."""
    decision = decide(settings, kind)
    if decision.url is not None:
        yield ResolvedSource(decision.url, decision.kind, decision.description)
        return
    with FakeApiServer(settings.fake_host, 0) as api:
        yield ResolvedSource(api.url, "local", stand_in_description(api.url, decision.description))
