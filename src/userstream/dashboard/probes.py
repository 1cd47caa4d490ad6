"""The dashboard's sampler: a background thread that asks the pipeline how it is doing.

Two paces: every ``fast_s`` the cheap probes (the stream's progress file and the topic's end
offsets, through one kept Kafka admin client) that drive the rates, the lag and the newest
users; every ``slow_s`` the rest — ``status.gather`` (every part's health, rows counted,
quality), the DAG's last runs and two bounded Cassandra reads. Each probe fails on its own
and becomes a note; the page always gets the last complete picture.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import orjson

from userstream.config import Settings
from userstream.dashboard.data import History, assemble

log = logging.getLogger(__name__)

FAST_S = 2.0
SLOW_S = 10.0
DAG_RUNS = 5
#: Ages are read from this many rows of ``user_profiles`` at most (in token order, which
#: is a uniform sample of the users: the partition key is a random uuid).
AGE_SAMPLE = 5000
#: Countries counted at most (``users_by_country`` has one partition per country).
MAX_COUNTRIES = 300
#: Users remembered for the portrait route (the page may ask for one just gone off the list).
KNOWN_USERS = 200


def read_data(settings: Settings) -> tuple[dict[str, int], list[int | None]]:
    """Users per country (one ``COUNT(*)`` per partition of ``users_by_country``) and the
    ``age`` of at most ``AGE_SAMPLE`` users of ``user_profiles``, in one session."""
    from userstream.store import queries, session

    ks = settings.cassandra.keyspace
    with session(settings) as sess:
        countries = queries.users_per_country(sess, ks, limit=MAX_COUNTRIES)
        return countries, queries.ages(sess, ks, limit=AGE_SAMPLE)


class Sampler:
    """Keeps the page's JSON up to date in a daemon thread (``start``/``stop``)."""

    def __init__(self, settings: Settings, *, fast_s: float = FAST_S, slow_s: float = SLOW_S):
        self.settings = settings
        self.fast_s = fast_s
        self.slow_s = slow_s
        self.history = History()
        self._admin: Any = None
        self._fast: dict[str, Any] = {"state": {}, "ends": None, "lag": None, "notes": []}
        self._slow: dict[str, Any] = {
            "status": None, "countries": None, "ages": None, "runs": None, "notes": [],
        }  # fmt: skip
        self._users: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._json = b"{}"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)  # a daemon: a probe still waiting does not hold us

    def snapshot(self) -> bytes:
        """The last assembled page data, as JSON."""
        with self._lock:
            return self._json

    def user(self, user_id: str) -> dict[str, Any] | None:
        """A user the page showed recently (for its portrait), or None."""
        with self._lock:
            return self._users.get(user_id)

    def _run(self) -> None:
        slow_due = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.fast()
                self._publish()
                if started >= slow_due:
                    slow_due = started + self.slow_s
                    self.slow()
                    self._publish()
            except Exception:  # the page keeps its last picture; the next tick tries again
                log.exception("dashboard_sample_failed")
            self._stop.wait(max(0.0, self.fast_s - (time.monotonic() - started)))

    def _probe(self, notes: list[str], what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # the page must show whatever one probe does
            notes.append(f"{what}: {exc}")
            log.debug("dashboard probe failed what=%s", what, exc_info=True)
            return None

    def fast(self) -> None:
        """The progress file, the topic's end offsets, the lag; a sample for the rates."""
        from userstream.kafka.topics import admin_client, end_offsets
        from userstream.streaming import control
        from userstream.streaming.control import lag_from

        s, notes = self.settings, list[str]()
        state = self._probe(notes, "stream progress", control.last_progress, s) or {}
        if self._admin is None:
            self._admin = self._probe(notes, "kafka", admin_client, s.kafka)
        ends = None if self._admin is None else self._probe(
            notes, "topics", end_offsets, s.kafka, self._admin
        )  # fmt: skip
        lag = None if ends is None else lag_from(s.kafka, ends, state)
        totals = state.get("totals") or {}
        topic = (ends or {}).get(s.kafka.topic)
        now = time.time()
        self.history.add(
            now,
            None if topic is None else sum(topic.values()),
            totals.get("stored"),
            totals.get("rejected"),
        )
        self.history.add_batch(now, state.get("last_batch"))
        self._fast = {"state": state, "ends": ends, "lag": lag, "notes": notes}

    def slow(self) -> None:
        """Every part's health and the rows (``status.gather``), DAG runs, countries, ages."""
        from userstream.status import dag_runs, gather

        s, notes = self.settings, list[str]()
        gathered = self._probe(notes, "status", gather, s)
        status = None if gathered is None else gathered.as_dict()
        parts = (status or {}).get("parts") or []
        airflow_up = any(p["name"] == "airflow" and p["healthy"] for p in parts)
        runs = self._probe(notes, "DAG runs", dag_runs, s, DAG_RUNS) if airflow_up else None
        data = self._probe(notes, "users by country and age", read_data, s)
        countries, ages = data if data is not None else (None, None)
        self._slow = {
            "status": status,
            "countries": countries,
            "ages": ages,
            "runs": runs,
            "notes": notes,
        }

    def _publish(self) -> None:
        fast, slow, s = self._fast, self._slow, self.settings
        page = assemble(
            now=dt.datetime.now(dt.UTC),
            topic=s.kafka.topic,
            keyspace=s.cassandra.keyspace,
            status=slow["status"],
            state=fast["state"],
            ends=fast["ends"],
            lag=fast["lag"],
            history=self.history,
            countries=slow["countries"],
            ages=slow["ages"],
            runs=slow["runs"],
            notes=[*fast["notes"], *slow["notes"]],
        )
        data = orjson.dumps(page, default=str)
        with self._lock:
            self._json = data
            for user in (fast["state"].get("totals") or {}).get("newest") or []:
                self._users[str(user.get("id"))] = user
                self._users.move_to_end(str(user.get("id")))
            while len(self._users) > KNOWN_USERS:
                self._users.popitem(last=False)
