"""The producer: Random User API → Kafka, keyed by ``login.uuid``, idempotent, observable.

Guarantee: every user the API returned ends in exactly one of three counts — produced (main
topic), dead-lettered (DLQ topic, with a ``dlq_reason`` header) or failed — and a run with
failures raises :class:`ProduceError` after everything was flushed. Nothing is dropped on
the way: a full local queue is back-pressure, a broker restart is absorbed by the
idempotent producer's retries (no duplicates), a stop request ends fetching and flushes
what was already fetched. No single user stops a run: one without a usable uuid, or too
large for Kafka (over ``kafka.max_message_bytes``, or refused as too large by the broker),
is dead-lettered (:mod:`userstream.producing.oversize` says how a too-large one is cut).

Replay: a run is determined by ``(seed, start_page, results per page, count)``. The page
size is fixed for the whole run (the API's page P is the same users only for the same
``results``), so a retried run — an Airflow retry — re-sends the same people under the
same keys, which the pipeline's upserts absorb. The message format (key, value, headers)
is described in :mod:`userstream.producing.messages`.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass, field

from userstream import contract
from userstream.config import Settings
from userstream.errors import ConfigError, TransientError
from userstream.kafka.topics import ensure_topics
from userstream.producing import messages
from userstream.producing.avro_values import value_encoder
from userstream.producing.metrics import producer_metrics, record_run
from userstream.producing.plan import page_sequence, page_size
from userstream.producing.progress_bar import ProgressLine
from userstream.producing.sink import Delivery, KafkaSink
from userstream.source.client import RandomUserClient
from userstream.source.errors import FetchStopped

__all__ = ["Delivery", "ProduceError", "ProduceSummary", "run_producer"]

log = logging.getLogger(__name__)

# Extra time the final flush allows beyond librdkafka's own per-message timeout.
_FLUSH_MARGIN_S = 30.0
#: Users/s asked of the live API when no rate is given: under its budget of 20,000 users per
#: 5 minutes per IP (about 67/s), whoever calls the producer (CLI, Airflow, a script).
LIVE_API_RATE = 60.0


@dataclass
class ProduceSummary:
    """What one run did. ``fetched == produced + dead_lettered + failed`` after a run."""

    fetched: int
    produced: int
    dead_lettered: int
    failed: int
    pages: int
    seconds: float
    users_per_s: float
    seed: str
    topic: str
    source_url: str = ""
    stopped: bool = False
    errors: list[str] = field(default_factory=list)
    # One per main-topic message, kept only when asked for (``track_deliveries``).
    deliveries: list[Delivery] = field(default_factory=list)
    # What determines the users sent, with the seed: see replay_args().
    results: int = 0
    start_page: int = 1
    count: int | None = None

    def replay_args(self) -> str:
        """The ``userstream produce`` options that re-send exactly these users."""
        args = f"--seed {self.seed} --batch-size {self.results} --start-page {self.start_page}"
        return args if self.count is None else f"{args} --count {self.count}"


class ProduceError(TransientError):
    """Some users were not acknowledged by Kafka. Retrying the run with the same seed is
    safe: it re-sends the same users under the same keys."""

    def __init__(self, summary: ProduceSummary) -> None:
        first = "; ".join(summary.errors) or "no detail"
        super().__init__(
            f"{summary.failed} of {summary.fetched} users were not delivered to Kafka topic "
            f"{summary.topic!r} ({summary.produced} produced, {summary.dead_lettered} "
            f"dead-lettered). First errors: {first}.",
            hint="Check the broker, then re-run with the same source and "
            f"{summary.replay_args()} to re-send the same users.",
        )
        self.summary = summary


def run_producer(
    settings: Settings,
    *,
    source_url: str,
    count: int | None,
    batch_size: int | None = None,
    rate: float | None = None,
    seed: str | None = None,
    start_page: int = 1,
    stop: threading.Event | None = None,
    progress: bool = False,
    track_deliveries: bool = False,
) -> ProduceSummary:
    """Fetch users from ``source_url`` and produce them to ``settings.kafka.topic``.

    ``count`` bounds the run (the first ``count`` users of the page sequence); ``None``
    runs until ``stop`` is set. ``rate`` caps users per second; ``seed`` defaults to
    ``settings.source.seed``, else a fresh random one (reported in the summary, so the
    run can be replayed). Against the configured live API (``settings.source.url``) the
    rate defaults to :data:`LIVE_API_RATE`. ``progress`` draws a live line on stderr.
    ``track_deliveries`` keeps the partition and offset of every message in the summary
    (for a caller that verifies where each landed; memory grows with the run).

    Creates the topics when missing. Returns the summary once every message has an
    outcome; raises :class:`ProduceError` (after the flush) when any failed, and the
    source's errors (``SourceUnavailable``, ``SourceResponseError``) when fetching fails
    — also after flushing what was already fetched.
    """
    if count is not None and count < 0:
        raise ConfigError(f"--count must be 0 or more, not {count}.")
    if rate is not None and rate <= 0:
        raise ConfigError(f"--rate must be positive, not {rate}.")
    kafka = settings.kafka
    if rate is None and source_url == settings.source.url:
        rate = LIVE_API_RATE
    seed = seed or settings.source.seed or secrets.token_hex(8)
    results = page_size(settings.source, count=count, batch_size=batch_size, rate=rate)
    pace_every = max(1, math.ceil(rate / 20)) if rate is not None else 0
    pages = page_sequence(seed, start_page)
    stop = stop or threading.Event()
    metrics = producer_metrics()

    ensure_topics(kafka)
    encode = value_encoder(settings)
    sink = KafkaSink(kafka, metrics, track_deliveries=track_deliveries)
    sink.start()
    clock = messages.IngestClock()
    fetched = n_pages = 0
    started = time.monotonic()
    log.info(
        "produce_start source=%s topic=%s seed=%s results=%d count=%s rate=%s",
        source_url,
        kafka.topic,
        seed,
        results,
        count,
        rate,
    )
    line = ProgressLine(enabled=progress, total=count, description=f"→ {kafka.topic}")
    try:
        # The client's retry waits end early on a stop request (it then raises FetchStopped).
        with line, RandomUserClient(settings.source, source_url, sleep=stop.wait) as client:
            while not stop.is_set() and sink.fatal is None:
                if count is not None and fetched >= count:
                    break
                if rate is not None and stop.wait(started + fetched / rate - time.monotonic()):
                    break
                page_no, page_seed = next(pages)
                try:
                    page = client.fetch_page(page_no, seed=page_seed, results=results)
                except FetchStopped:
                    break
                users = page.users if count is None else page.users[: count - fetched]
                metrics.pages.inc()
                metrics.fetched.inc(len(users))
                headers = messages.page_headers(
                    source_url=source_url,
                    api_version=page.meta.version,
                    seed=page_seed,
                    page=page_no,
                )
                dlq = 0
                for i, user in enumerate(users):
                    # Under a rate, a page is spread over its second in slices of 1/20 s, not
                    # sent as one burst: users reach the stream as steadily as they were asked.
                    # A stop request ends the pacing; the page is still sent whole.
                    if rate is not None and i and i % pace_every == 0 and not stop.is_set():
                        stop.wait(started + (fetched + i) / rate - time.monotonic())
                    out = messages.build(user, encode)
                    message_headers = [(contract.H_INGESTED_AT, clock.now()), *headers]
                    if out.dlq_reason is not None:
                        dlq += 1
                        message_headers.append((contract.H_DLQ_REASON, out.dlq_reason.encode()))
                    if out.dlq_detail is not None:
                        message_headers.append((contract.H_DLQ_DETAIL, out.dlq_detail.encode()))
                    sink.send(out.key, out.value, message_headers, dlq=out.dlq_reason is not None)
                fetched += len(users)
                n_pages += 1
                _log_page(sink, page_no, page_seed, len(users), dlq)
                elapsed = time.monotonic() - started
                line.update(
                    fetched=fetched,
                    produced=sink.counts.produced,
                    dead_lettered=sink.counts.dead_lettered,
                    failed=sink.counts.failed,
                    rate=sink.counts.produced / elapsed if elapsed > 0 else 0.0,
                )
    finally:
        sink.flush(kafka.delivery_timeout_ms / 1000 + _FLUSH_MARGIN_S)
        summary = _summary(sink, fetched, n_pages, started, seed, source_url, stop.is_set())
        summary.results, summary.start_page, summary.count = results, start_page, count
        if sink.fatal is not None and not summary.failed:
            summary.failed = summary.fetched - summary.produced - summary.dead_lettered
            summary.errors.insert(0, f"fatal producer error: {sink.fatal.str()}")
        counts = {"fetched": summary.fetched, "produced": summary.produced,
                  "dead_lettered": summary.dead_lettered, "failed": summary.failed}  # fmt: skip
        record_run(settings.paths, kafka.topic, counts, summary.pages)
        log.log(
            logging.WARNING if summary.failed else logging.INFO,
            "produce_done fetched=%d produced=%d dlq=%d failed=%d pages=%d seconds=%.2f "
            "users_per_s=%.0f seed=%s stopped=%s",
            summary.fetched,
            summary.produced,
            summary.dead_lettered,
            summary.failed,
            summary.pages,
            summary.seconds,
            summary.users_per_s,
            summary.seed,
            summary.stopped,
        )
    if summary.failed or sink.fatal is not None:
        raise ProduceError(summary)
    return summary


def _log_page(sink: KafkaSink, page: int, seed: str, users: int, dlq: int) -> None:
    spread = ",".join(f"{p}:{n}" for p, n in sorted(sink.counts.partitions.items()))
    log.info(
        "produced page=%d seed=%s users=%d dlq=%d pending=%d delivered=%d dead_lettered=%d "
        "failed=%d partition_spread=%s",
        page,
        seed,
        users,
        dlq,
        sink.pending(),
        sink.counts.produced,
        sink.counts.dead_lettered,
        sink.counts.failed,
        spread or "-",
    )


def _summary(
    sink: KafkaSink,
    fetched: int,
    pages: int,
    started: float,
    seed: str,
    source_url: str,
    stopped: bool,
) -> ProduceSummary:
    seconds = time.monotonic() - started
    counts = sink.counts
    return ProduceSummary(
        fetched=fetched,
        produced=counts.produced,
        dead_lettered=counts.dead_lettered,
        failed=counts.failed,
        pages=pages,
        seconds=seconds,
        users_per_s=counts.produced / seconds if seconds > 0 else 0.0,
        seed=seed,
        topic=sink.topic,
        source_url=source_url,
        stopped=stopped,
        errors=list(counts.errors),
        deliveries=counts.deliveries,
    )
