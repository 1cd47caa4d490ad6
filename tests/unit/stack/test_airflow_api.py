"""The Airflow API client tries an answer 5xx again, and a trigger repeated makes one run.

Airflow's API on SQLite answers 500 "Database error" when a write meets another process's
lock; CI met it on a trigger right after `up`. The server here plays Airflow's side of the
HTTP exchange (a token, runs keyed by the id the client sends, 409 for an id it has)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fake_clock import FakeClock
from userstream.errors import TerminalError, TransientError
from userstream.stack import _airflow_api
from userstream.stack._airflow_api import AirflowApi

DB_ERROR = {"detail": {"reason": "Database error", "statement": "hidden"}}


class _Airflow:
    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.posts: list[str] = []
        self.gets: list[str] = []
        # What each next POST does: "locked" (500, nothing kept), "kept" (500 after the run
        # was kept: the answer lost) or "ok".
        self.plan: list[str] = []


@pytest.fixture
def airflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_Airflow, AirflowApi]]:
    clock = FakeClock()
    monkeypatch.setattr(_airflow_api, "time", clock)
    state = _Airflow()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/auth/token":
                return self._answer(201, {"access_token": "t"})
            run_id = body["dag_run_id"]
            state.posts.append(run_id)
            step = state.plan.pop(0) if state.plan else "ok"
            if step == "locked":
                return self._answer(500, DB_ERROR)
            if run_id in state.runs:
                return self._answer(409, {"detail": "Unique constraint violation"})
            state.runs[run_id] = {"dag_run_id": run_id, "state": "queued", "conf": body["conf"]}
            if step == "kept":
                return self._answer(500, DB_ERROR)
            return self._answer(200, state.runs[run_id])

        def do_GET(self) -> None:
            run_id = self.path.rsplit("/", 1)[1]
            state.gets.append(run_id)
            if run_id in state.runs:
                return self._answer(200, state.runs[run_id])
            return self._answer(404, {"detail": "not found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, AirflowApi(f"http://127.0.0.1:{server.server_port}", "admin", "pw")
    finally:
        server.shutdown()
        server.server_close()


def test_a_trigger_answered_database_error_is_tried_again_and_makes_one_run(airflow) -> None:
    state, api = airflow
    state.plan = ["locked", "locked"]
    run = api.trigger("streaming_pipeline", {"batch_size": 5})
    assert list(state.runs) == [run["dag_run_id"]]
    assert state.posts == [run["dag_run_id"]] * 3  # the same id each time
    assert run["conf"] == {"batch_size": 5}


def test_a_trigger_whose_run_was_made_before_the_error_returns_that_run(airflow) -> None:
    state, api = airflow
    state.plan = ["kept"]  # made, then 500; the repeat is refused with 409
    run = api.trigger("streaming_pipeline", {})
    assert list(state.runs) == [run["dag_run_id"]]
    assert len(state.posts) == 2


def test_each_trigger_names_a_new_run(airflow) -> None:
    _, api = airflow
    first, second = api.trigger("d", {}), api.trigger("d", {})
    assert first["dag_run_id"] != second["dag_run_id"]
    assert first["dag_run_id"].startswith("manual__")


def test_a_database_that_stays_locked_ends_in_a_transient_error_quoting_airflow(airflow) -> None:
    state, api = airflow
    state.plan = ["locked"] * 10  # waits 0.5, 1, 2, 4, 8 (15.5 s; 16 more passes 30): 6 tries
    with pytest.raises(TransientError, match=r"answered 500: .*Database error"):
        api.trigger("d", {})
    assert len(state.posts) == 6 and state.runs == {}


def test_a_4xx_is_not_tried_again(airflow) -> None:
    state, api = airflow
    with pytest.raises(TerminalError, match="answered 404"):
        api.run("d", "no_such_run")
    assert state.gets == ["no_such_run"]
