"""RandomUserClient against the real HTTP stand-in: pages, retries, give-up, terminal errors."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from userstream.config import SourceSettings
from userstream.errors import ConfigError, TerminalError, TransientError
from userstream.source.client import ODD_ANSWER_RETRIES, RandomUserClient
from userstream.source.errors import FetchStopped, SourceResponseError, SourceUnavailable
from userstream.source.standin.faults import Faults
from userstream.source.standin.server import FakeApiServer


class Sleeps:
    """Records requested waits; really sleeps at most ``cap`` seconds of each."""

    def __init__(self, cap: float = 0.0) -> None:
        self.cap = cap
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.cap:
            time.sleep(min(seconds, self.cap))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_is_returned_untouched_with_metadata(fast):
    with (
        FakeApiServer(faults=Faults(dirty_share=0.5)) as api,
        RandomUserClient(fast, api.url) as client,
    ):
        before = datetime.now(tz=UTC)
        page = client.fetch_page(4, seed="meta", results=50)
        direct = httpx.get(api.url, params={"results": 50, "page": 4, "seed": "meta"}).json()
    assert page.users == direct["results"]
    assert page.info == direct["info"]
    assert page.meta.seed == "meta" and page.meta.page == 4 and page.meta.version == "1.4"
    assert page.meta.url.startswith(api.url) and "seed=meta" in page.meta.url
    assert "page=4" in page.meta.url and "results=50" in page.meta.url
    assert page.meta.fetched_at >= before


def test_default_results_and_nat_come_from_settings(api):
    settings = SourceSettings(results_per_page=7, nat="NO")
    with RandomUserClient(settings, api.url) as client:
        page = client.fetch_page(1, seed="s")
    assert len(page.users) == 7
    assert {u["nat"] for u in page.users} == {"NO"}


def test_5xx_is_retried_then_succeeds(fast):
    sleeps = Sleeps()
    with (
        FakeApiServer(faults=Faults(error_first=2)) as api,
        RandomUserClient(fast, api.url, sleep=sleeps) as client,
    ):
        page = client.fetch_page(1, seed="retry", results=3)
        assert api.requests == 3
    assert len(page.users) == 3
    assert len(sleeps.waits) == 2
    # exponential with jitter: within [ceiling/2, ceiling] of base * 2**(n-1)
    assert 0.0005 <= sleeps.waits[0] <= 0.001
    assert 0.001 <= sleeps.waits[1] <= 0.002


def test_gives_up_after_max_retries_with_a_clear_error(fast):
    with (
        FakeApiServer(faults=Faults(error_every=1)) as api,
        RandomUserClient(fast, api.url, sleep=Sleeps()) as client,
    ):
        with pytest.raises(SourceUnavailable) as caught:
            client.fetch_page(7, seed="down", results=5)
        assert api.requests == fast.max_retries + 1
    err = caught.value
    assert isinstance(err, TransientError)
    assert err.attempts == 4 and err.status == 503 and err.page == 7
    text = str(err)
    assert "page 7" in text and "4 attempts" in text and "HTTP 503" in text
    assert api.url in text and "Try again later" in text


def test_429_retry_after_is_honoured(fast):
    faults = Faults(user_budget=10, budget_window_s=0.3, retry_after_s=2)
    sleeps = Sleeps(cap=0.4)  # sleep just past the window so the budget frees
    with (
        FakeApiServer(faults=faults) as api,
        RandomUserClient(fast, api.url, sleep=sleeps) as client,
    ):
        client.fetch_page(1, seed="budget", results=10)
        page = client.fetch_page(2, seed="budget", results=10)
        assert api.requests == 3
    assert len(page.users) == 10
    assert sleeps.waits == [2.0]


def test_429_message_reaches_the_error(fast):
    faults = Faults(user_budget=1)
    with (
        FakeApiServer(faults=faults) as api,
        RandomUserClient(fast, api.url, sleep=Sleeps()) as client,
        pytest.raises(SourceUnavailable) as caught,
    ):
        client.fetch_page(1, seed="cowboy", results=2)
    assert caught.value.status == 429
    assert "cowboy" in str(caught.value)


def test_empty_results_are_retried_then_succeed(fast):
    with (
        FakeApiServer(faults=Faults(empty_first=2)) as api,
        RandomUserClient(fast, api.url, sleep=Sleeps()) as client,
    ):
        assert len(client.fetch_page(1, seed="e", results=4).users) == 4
        assert api.requests == 3


def test_always_empty_gives_up_as_transient():
    settings = SourceSettings(max_retries=10, backoff_base_s=0.001, backoff_max_s=0.002)
    with (
        FakeApiServer(faults=Faults(empty_every=1)) as api,
        RandomUserClient(settings, api.url, sleep=Sleeps()) as client,
    ):
        with pytest.raises(SourceUnavailable) as caught:
            client.fetch_page(2, seed="e", results=4)
        # a few retries only, not the whole max_retries budget
        assert api.requests == ODD_ANSWER_RETRIES + 1
    assert "empty" in str(caught.value)


def test_malformed_body_is_retried_then_terminal(fast):
    with (
        FakeApiServer(faults=Faults(malformed_first=1)) as api,
        RandomUserClient(fast, api.url, sleep=Sleeps()) as client,
    ):
        assert len(client.fetch_page(1, seed="m", results=2).users) == 2
    with (
        FakeApiServer(faults=Faults(malformed_every=1)) as api,
        RandomUserClient(fast, api.url, sleep=Sleeps()) as client,
    ):
        with pytest.raises(SourceResponseError) as caught:
            client.fetch_page(1, seed="m", results=2)
        assert api.requests == min(ODD_ANSWER_RETRIES, fast.max_retries) + 1
    assert isinstance(caught.value, TerminalError)
    assert "not JSON" in str(caught.value)


def test_unknown_version_404_is_terminal_at_once(api, fast):
    sleeps = Sleeps()
    url = api.url.replace("/1.4/", "/1.3/")
    with (
        RandomUserClient(fast, url, sleep=sleeps) as client,
        pytest.raises(SourceResponseError) as caught,
    ):
        client.fetch_page(1, seed="v")
    assert caught.value.status == 404
    assert sleeps.waits == []
    assert "1.4" in str(caught.value)


def test_403_is_terminal_at_once(fast):
    with (
        FakeApiServer(faults=Faults(error_first=5, error_status=403)) as api,
        RandomUserClient(fast, api.url, sleep=Sleeps()) as client,
    ):
        with pytest.raises(SourceResponseError):
            client.fetch_page(1, seed="f")
        assert api.requests == 1


def test_timeouts_are_retried_then_give_up():
    settings = SourceSettings(timeout_s=0.05, max_retries=1, backoff_base_s=0.001)
    with (
        FakeApiServer(faults=Faults(latency_s=0.5)) as api,
        RandomUserClient(settings, api.url, sleep=Sleeps()) as client,
        pytest.raises(SourceUnavailable) as caught,
    ):
        client.fetch_page(1, seed="slow")
    assert caught.value.attempts == 2 and caught.value.status is None
    assert "no answer within 0.05 s" in str(caught.value)


def test_connection_refused_is_transient(fast):
    url = f"http://127.0.0.1:{closed_port()}/api/1.4/"
    with (
        RandomUserClient(fast, url, sleep=Sleeps()) as client,
        pytest.raises(SourceUnavailable) as caught,
    ):
        client.fetch_page(1, seed="gone")
    assert caught.value.attempts == fast.max_retries + 1
    assert "connection failed" in str(caught.value)


def test_a_stop_request_cuts_the_retry_wait_short(fast):
    stop = threading.Event()
    stop.set()
    slow = fast.model_copy(update={"backoff_base_s": 60.0, "backoff_max_s": 60.0})
    with (
        FakeApiServer(faults=Faults(error_every=1)) as api,
        RandomUserClient(slow, api.url, sleep=stop.wait) as client,
    ):
        started = time.monotonic()
        with pytest.raises(FetchStopped) as caught:
            client.fetch_page(3, seed="stop", results=5)
        assert api.requests == 1
    assert time.monotonic() - started < 30, "the 60 s backoff was waited out"
    assert caught.value.page == 3 and caught.value.status == 503


def test_misuse_is_reported(api, fast):
    client = RandomUserClient(fast, api.url)
    with pytest.raises(RuntimeError):
        client.fetch_page(1, seed="x")
    with client:
        with pytest.raises(ConfigError):
            client.fetch_page(1, seed="x", results=5001)
        with pytest.raises(ConfigError):
            client.fetch_page(0, seed="x")


def test_no_network_in_constructor(fast):
    # Building and closing a client sends nothing; only fetch_page does.
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(503))
    url = f"http://127.0.0.1:{closed_port()}/api/1.4/"
    client = RandomUserClient(fast, url, transport=transport)
    client.close()
    assert requests == []
    with (
        RandomUserClient(fast, url, transport=transport) as used,
        pytest.raises(SourceUnavailable),
    ):
        used.fetch_page(1, seed="x", results=1)
    assert len(requests) == fast.max_retries + 1
