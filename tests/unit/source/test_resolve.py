"""decide and open_source: which API the pipeline talks to."""

from __future__ import annotations

import socket

import httpx
import pytest

from userstream.config import SourceSettings
from userstream.errors import ConfigError
from userstream.source.resolve import check_url, decide, open_source


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api/1.4/"


def test_local_runs_the_stand_in_for_the_block():
    with open_source(SourceSettings(), "local") as source:
        assert source.kind == "local"
        assert httpx.get(source.url, params={"seed": "r"}).json()["results"]
        assert source.url in source.description
    with pytest.raises(httpx.ConnectError):
        httpx.get(source.url)


def test_auto_falls_back_when_the_api_does_not_answer():
    settings = SourceSettings(url=closed_url())
    with open_source(settings, "auto") as source:
        assert source.kind == "local"
        assert source.url != settings.url
        assert "did not answer" in source.description
        assert httpx.get(source.url).status_code == 200


def test_auto_uses_the_api_when_it_answers():
    with (
        open_source(SourceSettings(), "local") as stand_in,
        open_source(SourceSettings(url=stand_in.url), "auto") as source,
    ):
        assert source.kind == "randomuser"
        assert source.url == stand_in.url


def test_randomuser_and_explicit_urls():
    settings = SourceSettings()
    with open_source(settings, "randomuser") as source:
        assert (source.kind, source.url) == ("randomuser", settings.url)
    with open_source(settings, "http://api.example:9000/api/1.4") as source:
        assert (source.kind, source.url) == ("url", "http://api.example:9000/api/1.4/")


@pytest.mark.parametrize("kind", ["banana", "ftp://x/api/", "http://"])
def test_unknown_kinds_are_config_errors(kind):
    with pytest.raises(ConfigError), open_source(SourceSettings(), kind):
        pass


@pytest.mark.parametrize("bad", ["bogus", "ftp://example.com/api/", "http://", "http://[::1"])
def test_check_url_refuses_what_is_not_an_http_url(bad):
    with pytest.raises(ConfigError, match="Unknown source"):
        check_url(bad)


def test_check_url_gives_a_base_url():
    assert check_url("https://example.com/api/1.4") == "https://example.com/api/1.4/"
    assert check_url(" http://127.0.0.1:9/api/ ") == "http://127.0.0.1:9/api/"


def test_up_validates_a_url_source_like_open_source(base_settings):
    from userstream.pipeline import choose_source

    said = []
    with pytest.raises(ConfigError, match="Unknown source"):
        choose_source(base_settings, "bogus", said.append)
    choice = choose_source(base_settings, "http://127.0.0.1:9/api/1.4", said.append)
    assert (choice.kind, choice.url) == ("url", "http://127.0.0.1:9/api/1.4/")


def test_decide_chooses_and_starts_nothing():
    # One choice for `produce`, the DAG's tasks and `up`; the stand-in is the caller's to run.
    unreachable = SourceSettings(url=closed_url())
    fallback = decide(unreachable, "auto", probe_timeout_s=1)
    assert (fallback.kind, fallback.url) == ("local", None)
    assert fallback.description.startswith("127.0.0.1 did not answer: ")
    assert decide(unreachable, "local") == type(fallback)("local", None, "")
    assert decide(unreachable, "randomuser").url == unreachable.url  # not probed
    with open_source(SourceSettings(), "local") as stand_in:
        answered = decide(SourceSettings(url=stand_in.url), "auto")
    assert (answered.kind, answered.url) == ("randomuser", stand_in.url)
    assert answered.description.endswith("(it answered)")
