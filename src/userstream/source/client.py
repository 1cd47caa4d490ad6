"""The Random User API client: one page of users per call, retried, paced and replayable.

Guarantees:
- every request has a timeout (``settings.timeout_s``);
- 429, 5xx, timeouts and connection errors are retried with exponential backoff and
  jitter, honouring ``Retry-After``; after ``settings.max_retries`` retries the call raises
  :class:`SourceUnavailable` naming the URL, page, last status and attempts;
- an empty ``results`` list or a malformed body are retried a few times too (the live
  service answers them now and then), then raise ``SourceUnavailable`` (empty) or
  :class:`SourceResponseError` (malformed); other 4xx answers raise
  ``SourceResponseError`` at once;
- the body is checked only for shape (``results`` is a list, ``info`` an object): each
  user is returned exactly as parsed, so nothing is lost or altered before the producer
  decides what to dead-letter;
- the same ``seed`` and ``page`` ask the service for the same users, so a run can be
  replayed page by page.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NoReturn

import httpx
import orjson

from userstream.config import SourceSettings
from userstream.contract import MAX_PAGE, MAX_RESULTS
from userstream.errors import ConfigError
from userstream.source._retry import backoff_s, parse_retry_after
from userstream.source.errors import FetchStopped, SourceResponseError, SourceUnavailable

log = logging.getLogger(__name__)

# Empty or malformed answers are retried at most this many times (within max_retries).
ODD_ANSWER_RETRIES = 3
_VERSION_IN_URL = re.compile(r"/api/(\d+(?:\.\d+)*)/?$")
_USER_AGENT = "userstream (Random User API client; python-httpx)"


@dataclass(frozen=True)
class FetchMeta:
    """Where a page came from: enough to fetch the same page again."""

    url: str  # the full request URL, query included
    version: str  # the API version that answered ("1.4"), "" when unknown
    seed: str
    page: int
    fetched_at: datetime  # UTC, when the answer arrived


@dataclass(frozen=True)
class Page:
    """One answer of the API: the users untouched, its ``info`` (``{}`` with ``noinfo``)."""

    users: list[Any]
    info: dict[str, Any]
    meta: FetchMeta


class _Odd(Exception):
    """A 200 answer that is not a usable page (empty or malformed)."""

    def __init__(self, problem: str, *, empty: bool) -> None:
        super().__init__(problem)
        self.problem = problem
        self.empty = empty


class RandomUserClient:
    """Fetches pages from a Random User API base URL (e.g. ``…/api/1.4/``).

    ``sleep`` waits between retries; pass a ``threading.Event().wait`` to make a stop request
    cut the wait short (the fetch then raises :class:`FetchStopped`). ``transport`` is for
    tests. The constructor stores arguments only; ``start()`` opens the connection pool,
    ``close()`` releases it; the client is also a context manager. Pacing requests to the
    live service's budget is the caller's job (the producer's ``rate``).
    """

    def __init__(
        self,
        settings: SourceSettings,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.settings = settings
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._transport = transport
        self._sleep = sleep
        self._http: httpx.Client | None = None
        self._jitter = random.Random()  # noqa: S311 - jitter, not secrets
        match = _VERSION_IN_URL.search(httpx.URL(self.base_url).path)
        self._url_version = match.group(1) if match else ""

    def start(self) -> RandomUserClient:
        if self._http is None:
            self._http = httpx.Client(
                timeout=httpx.Timeout(self.settings.timeout_s),
                transport=self._transport,
                follow_redirects=True,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
            )
        return self

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def __enter__(self) -> RandomUserClient:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch_page(self, page: int, *, seed: str, results: int | None = None) -> Page:
        """Fetch ``results`` users (default ``settings.results_per_page``) of ``page`` for ``seed``.

        Raises :class:`SourceUnavailable` when the retry budget is spent and
        :class:`SourceResponseError` on answers retrying cannot fix.
        """
        if self._http is None:
            raise RuntimeError("RandomUserClient is not started: call start() or use `with`.")
        count = self.settings.results_per_page if results is None else results
        if not 1 <= count <= MAX_RESULTS:
            raise ConfigError(f"The API serves 1 to {MAX_RESULTS} users per request, not {count}.")
        if not 1 <= page <= MAX_PAGE:
            raise ConfigError(f"The API serves pages 1 to {MAX_PAGE}, not {page}.")
        params: dict[str, str | int] = {"results": count, "page": page, "seed": seed}
        if self.settings.nat:
            params["nat"] = self.settings.nat

        attempts = odd_answers = 0
        max_attempts = self.settings.max_retries + 1
        url = self.base_url
        while True:
            attempts += 1
            status: int | None = None
            retry_after: float | None = None
            try:
                response = self._http.get(self.base_url, params=params)
            except httpx.TimeoutException as exc:
                problem = f"no answer within {self.settings.timeout_s:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                url = str(response.request.url)
                status = response.status_code
                if status == 200:
                    try:
                        return self._page(response, url, seed, page)
                    except _Odd as odd:
                        odd_answers += 1
                        problem = odd.problem
                        if odd_answers > min(ODD_ANSWER_RETRIES, self.settings.max_retries):
                            self._give_up_odd(odd, url, page, attempts)
                elif status == 429 or status >= 500:
                    problem = f"HTTP {status}{_error_text(response)}"
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                else:
                    raise SourceResponseError(
                        f"The Random User API answered HTTP {status}{_error_text(response)} "
                        f"for page {page} ({url}); retrying will not help.",
                        url=url,
                        page=page,
                        status=status,
                        hint=_terminal_hint(status),
                    )
            if attempts >= max_attempts:
                raise SourceUnavailable(
                    f"The Random User API gave no usable answer for page {page} after "
                    f"{attempts} attempts ({url}); last problem: {problem}.",
                    url=url,
                    page=page,
                    status=status,
                    attempts=attempts,
                    hint="Try again later, lower the request rate, or use the local stand-in "
                    "(--source local); USERSTREAM_SOURCE__MAX_RETRIES allows more retries.",
                )
            wait = (
                retry_after
                if retry_after is not None
                else backoff_s(
                    attempts,
                    self.settings.backoff_base_s,
                    self.settings.backoff_max_s,
                    self._jitter,
                )
            )
            log.warning(
                "source_retry page=%d attempt=%d max_attempts=%d status=%s problem=%r wait_s=%.3f "
                "retry_after=%s",
                page,
                attempts,
                max_attempts,
                status,
                problem,
                wait,
                retry_after is not None,
            )
            # Event.wait answers True when the event was set: the caller is stopping.
            if self._sleep(wait) is True:
                raise FetchStopped(
                    f"Stopped while waiting to retry page {page} ({url}).",
                    url=url,
                    page=page,
                    status=status,
                    attempts=attempts,
                    hint="Nothing to do: the run was asked to stop.",
                )

    # -- helpers ---------------------------------------------------------------------
    def _page(self, response: httpx.Response, url: str, seed: str, page: int) -> Page:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise _Odd(f"the body is not JSON ({exc})", empty=False) from exc
        if not isinstance(body, dict):
            raise _Odd(f"the body is a JSON {type(body).__name__}, not an object", empty=False)
        users = body.get("results")
        if not isinstance(users, list):
            detail = f": {body['error']!r}" if isinstance(body.get("error"), str) else ""
            raise _Odd(f"the body has no 'results' list{detail}", empty=False)
        info = body.get("info", {})
        if not isinstance(info, dict):
            raise _Odd("the body's 'info' is not an object", empty=False)
        if not users:
            raise _Odd("the 'results' list is empty", empty=True)
        version = info.get("version")
        meta = FetchMeta(
            url=url,
            version=version if isinstance(version, str) else self._url_version,
            seed=seed,
            page=page,
            fetched_at=datetime.now(tz=UTC),
        )
        log.debug("source_page page=%d users=%d url=%s", page, len(users), url)
        return Page(users=users, info=info, meta=meta)

    def _give_up_odd(self, odd: _Odd, url: str, page: int, attempts: int) -> NoReturn:
        message = (
            f"The Random User API answered page {page} {attempts} times without users "
            f"({url}); last problem: {odd.problem}."
        )
        if odd.empty:
            raise SourceUnavailable(
                message,
                url=url,
                page=page,
                status=200,
                attempts=attempts,
                hint="The service is having a bad moment; try again later or use --source local.",
            )
        raise SourceResponseError(
            message,
            url=url,
            page=page,
            status=200,
            hint="Check that the source URL points at a Random User API (…/api/1.4/).",
        )


def _error_text(response: httpx.Response) -> str:
    """The service's own error sentence, when its body carries one (429 does)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f" ({body['error'][:200]})"
    return ""


def _terminal_hint(status: int) -> str:
    if status == 404:
        return "Check the source URL: the service must serve version 1.4 at …/api/1.4/."
    if status in (401, 403):
        return "The service refused this client; wait, or use the local stand-in (--source local)."
    return "Check the source URL and the request parameters (results, page, seed, nat)."
