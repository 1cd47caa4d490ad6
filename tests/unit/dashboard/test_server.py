"""The dashboard's routes and portraits, through Starlette's test client (no services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families

from userstream.config import StatePaths
from userstream.dashboard.portraits import Portraits, initials_svg
from userstream.dashboard.server import build_app
from userstream.producing.metrics import record_run, runs_file

JPEG = b"\xff\xd8\xff\xe0 a tiny jpeg"
ADA = {
    "id": "u1",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "picture_thumbnail": "https://randomuser.me/api/portraits/thumb/women/1.jpg",
}


class _Sampler:
    def __init__(self, users: dict[str, dict[str, Any]]) -> None:
        self.users = users

    def snapshot(self) -> bytes:
        return b'{"generated_at": "2026-11-27T12:00:00+00:00"}'

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)


def _portraits(handler: Any) -> tuple[Portraits, list[str]]:
    asked: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return handler(request)

    return Portraits(httpx.Client(transport=httpx.MockTransport(record))), asked


class _Client:
    """Requests straight into the ASGI app (no socket), one at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:8090"
            ) as client:
                return await client.request(method, path, **kwargs)

        return anyio.run(send)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def _client(
    portraits: Portraits,
    users: dict[str, dict[str, Any]] | None = None,
    producer_runs: Path = Path("/nonexistent/producer.prom"),
) -> _Client:
    return _Client(build_app(_Sampler(users or {}), portraits, producer_runs, "t"))  # type: ignore[arg-type]


def test_metrics_serve_the_producer_runs_and_zeros_before_the_first(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    client = _client(Portraits(), producer_runs=runs_file(paths))

    def produced() -> float:
        answer = client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }
        return samples[
            ("userstream_producer_users_total", (("outcome", "produced"), ("topic", "t")))
        ]

    assert produced() == 0  # before any run
    record_run(paths, "t", {"fetched": 5, "produced": 4, "dead_lettered": 1, "failed": 0}, 1)
    assert produced() == 4


def test_the_page_its_assets_and_data_are_served_with_a_strict_policy() -> None:
    client = _client(Portraits())
    page = client.get("/")
    assert page.status_code == 200 and "static/app.js" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "img-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("static/app.js", "static/style.css", "static/favicon.svg",
                  "static/vendor/chart.umd.min.js"):  # fmt: skip
        assert client.get(f"/{asset}").status_code == 200, asset
    data = client.get("/api/snapshot")
    assert data.json()["generated_at"] and data.headers["cache-control"] == "no-store"
    assert client.get("/healthz").text == "ok"
    assert client.post("/api/snapshot").status_code == 405  # read-only


def test_another_host_name_is_refused() -> None:
    # A page elsewhere reaching 127.0.0.1 through DNS rebinding names its own host.
    client = _client(Portraits())
    assert client.get("/api/snapshot", headers={"host": "attacker.example:8090"}).status_code == 400
    assert client.get("/api/snapshot", headers={"host": "localhost:8090"}).status_code == 200


def test_a_real_portrait_is_fetched_once_and_kept() -> None:
    portraits, asked = _portraits(
        lambda request: httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})
    )
    client = _client(portraits, {"u1": ADA})
    for _ in range(3):
        answer = client.get("/portraits/u1")
        assert answer.status_code == 200 and answer.content == JPEG
        assert answer.headers["content-type"] == "image/jpeg"
    assert asked == [ADA["picture_thumbnail"]]


def test_offline_the_portrait_is_the_users_initials_and_the_network_rests() -> None:
    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    portraits, asked = _portraits(offline)
    ben = {**ADA, "id": "u2", "first_name": "Ben", "last_name": "Okri",
           "picture_thumbnail": "https://randomuser.me/api/portraits/thumb/men/2.jpg"}  # fmt: skip
    client = _client(portraits, {"u1": ADA, "u2": ben})
    first = client.get("/portraits/u1")
    second = client.get("/portraits/u2")
    assert first.status_code == 200 and first.headers["content-type"] == "image/svg+xml"
    assert first.content == initials_svg("u1", "AL")
    assert b">BO</text>" in second.content
    assert len(asked) == 1  # after a failed connection, no new attempt for a while


def test_only_the_apis_portraits_are_fetched_and_anything_else_is_initials() -> None:
    portraits, asked = _portraits(lambda request: httpx.Response(200, content=JPEG))
    elsewhere = {**ADA, "picture_thumbnail": "http://169.254.169.254/latest/meta-data"}
    not_an_image = {**ADA, "id": "u3"}
    client = _client(portraits, {"u1": elsewhere, "u3": not_an_image})
    assert client.get("/portraits/u1").headers["content-type"] == "image/svg+xml"
    assert asked == []
    # The API's folder answering something that is not an image: initials too.
    assert client.get("/portraits/u3").headers["content-type"] == "image/svg+xml"
    unknown = client.get("/portraits/no-such-user")
    assert unknown.status_code == 200 and b">?</text>" in unknown.content


def test_initials_are_escaped_into_the_svg() -> None:
    svg = initials_svg("x", "<&")
    assert b"&lt;&amp;" in svg and b"<&" not in svg
