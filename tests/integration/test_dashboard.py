"""The dashboard in a real browser: the system's Chromium, driven by Playwright, opens the
page served against the real Kafka, Spark and Cassandra (a topic, keyspace and stream of the
test's own); users are produced through the stand-in API and the page shows the numbers and
the newest users change, with no console error and no broken image. It takes a screenshot;
with USERSTREAM_REFRESH_SCREENSHOT=1 it replaces the one the README shows (docs/dashboard.png),
otherwise it leaves the checkout as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest_stream import POISON, isolated, produce, stream_env, wait_until
from userstream.config import Settings
from userstream.dashboard.server import Dashboard
from userstream.producing.run import run_producer
from userstream.source.standin.server import FakeApiServer
from userstream.streaming import control

pytestmark = pytest.mark.integration

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
#: An upper bound for slow shared machines (the stream starts, then lands users), never a
#: performance assertion.
WAIT_MS = 180_000


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no Chromium on this machine: install the distribution's (Debian/Ubuntu: "
        "`apt-get install chromium`); Playwright's own browser download is not used"
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'"
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def settings(stack: Settings, unique: str) -> Iterator[Settings]:
    with stream_env(isolated(stack, unique, trigger_interval="500 milliseconds")) as s:
        control.start(s)
        yield s


def _produce(settings: Settings, api: FakeApiServer, seed: str, count: int) -> set[str]:
    summary = run_producer(
        settings, source_url=api.url, count=count, batch_size=100, seed=seed,
        track_deliveries=True,
    )  # fmt: skip
    assert summary.produced == count
    return {d.key for d in summary.deliveries if d.key}


def _text(page: Any, testid: str) -> str:
    return str(page.get_by_test_id(testid).inner_text())


def _wait(page: Any, what: str, predicate: str, arg: Any = None) -> None:
    """Wait for a JS predicate on the page; on timeout, say what the page showed."""
    try:
        page.wait_for_function(predicate, arg=arg, timeout=WAIT_MS, polling=250)
    except Exception as exc:
        shown = page.evaluate("() => document.body.innerText")
        raise AssertionError(f"the page never showed {what}:\n{shown[:3000]}") from exc


PARTS = "() => [...document.querySelectorAll('#parts li')].map(li => li.dataset.part)"
#: True once the page lists 12 newest users, all of them among ``ids``.
NEWEST_AMONG = """ids => {
    const shown = [...document.querySelectorAll('#newest li')];
    return shown.length === 12 && shown.every(li => ids.includes(li.dataset.id));
}"""
#: True once every count shows the text given for it.
COUNTS_ARE = """counts => Object.entries(counts).every(
    ([id, text]) => document.getElementById(id).textContent === text)"""


def _counts(produced: int, stored: int, rejected: int) -> dict[str, str]:
    return {
        "count-produced": f"{produced:,} messages in the topic",
        "count-stored": f"{stored:,} users in Cassandra",
        "count-rejected": f"{rejected:,} in the rejects table",
    }


def _write_latency_ms(cassandra_session: Any, settings: Settings, ids: set[str]) -> list[int]:
    """Each user's ingested_at → the time Cassandra wrote its row (WRITETIME), in ms."""
    rows = cassandra_session.execute(
        f"SELECT id, ingested_at, WRITETIME(email) AS written "
        f"FROM {settings.cassandra.keyspace}.user_profiles"
    )
    return [
        round(r.written / 1000 - r.ingested_at.replace(tzinfo=dt.UTC).timestamp() * 1000)
        for r in rows
        if str(r.id) in ids
    ]


def test_the_page_follows_the_pipeline_live(
    browser: Any, settings: Settings, cassandra_session: Any, tmp_path: Path
) -> None:
    # (The browser first: without one the test is skipped before a stream is started.)
    errors: list[str] = []
    with FakeApiServer() as api, Dashboard(settings, port=0, fast_s=1.0, slow_s=2.0) as board:
        # A first micro-batch warms the stream (its first one is seconds slower).
        warm = _produce(settings, api, "dashboard-0", 20)
        wait_until("the warm-up users", lambda: _stored(settings) == 20)

        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status}: {r.url}"))
        page.goto(board.url)
        _wait(page, "the warm-up users", NEWEST_AMONG, sorted(warm))
        _wait(page, "the warm-up counts", COUNTS_ARE, _counts(20, 20, 0))

        first = _produce(settings, api, "dashboard-1", 300)
        produce(settings, [(k, v) for k, v, _ in POISON])
        _wait(page, "the newest users change", NEWEST_AMONG, sorted(first))
        _wait(page, "the counts change", COUNTS_ARE, _counts(320 + len(POISON), 320, len(POISON)))

        second = _produce(settings, api, "dashboard-2", 200)
        _wait(page, "the newest users change again", NEWEST_AMONG, sorted(second))
        _wait(page, "the counts change again", COUNTS_ARE,
              _counts(520 + len(POISON), 520, len(POISON)))  # fmt: skip
        _wait(page, "a lag of 0", "() => document.getElementById('lag-total').textContent === '0'")

        # The latency shown is the stream's: from ingested_at to the acknowledged write, so
        # within what Cassandra's write times say of the same users.
        p50, p99 = (int(v.replace(",", "")) for v in _text(page, "latency").split(" / "))
        written = _write_latency_ms(cassandra_session, settings, second)
        assert len(written) == 200
        assert min(written) - 1 <= p50 <= p99 <= max(written) + 5000, (p50, p99, written)

        # Every chart has data, and the data's charts count every user.
        charts = page.evaluate("""() => Object.fromEntries(
            ['rates', 'lag', 'latency', 'reasons', 'countries', 'ages'].map(name => {
                const chart = Chart.getChart('chart-' + name);
                return [name, chart.data.datasets.map(d => d.data.filter(v => v !== null))];
            }))""")
        for name, series in charts.items():
            assert any(series), f"the {name} chart is empty"
        assert sum(charts["countries"][0]) == 520
        assert sum(charts["ages"][0]) == 520
        assert sum(charts["reasons"][0]) == len(POISON)
        assert max(charts["rates"][0], default=0) > 0, "the produced rate never rose"
        assert max(charts["rates"][1], default=0) > 0, "the stored rate never rose"
        assert {"kafka", "cassandra", "spark stream", "dashboard"} <= set(page.evaluate(PARTS))

        # No image is broken: every one has loaded and has a size.
        page.wait_for_function(
            "() => [...document.images].every(img => img.complete)", timeout=30_000
        )
        images = page.evaluate("() => [...document.images].map(i => [i.src, i.naturalWidth])")
        assert len(images) == 12
        assert [src for src, width in images if width <= 0] == []
        assert errors == []

        refresh = os.environ.get("USERSTREAM_REFRESH_SCREENSHOT") == "1"
        shot = SCREENSHOT if refresh else tmp_path / SCREENSHOT.name
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0


def _stored(settings: Settings) -> int:
    totals = (control.last_progress(settings) or {}).get("totals") or {}
    return int(totals.get("stored", 0))
