"""`airflow run-dag` says why a run waits: which run of the DAG holds its active-run slot."""

from __future__ import annotations

from typing import Any

from userstream.stack import airflow_runs


class _Api:
    def __init__(self, running: list[dict[str, Any]]) -> None:
        self.running = running
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def get(self, path: str, **params: Any) -> Any:
        self.asked.append((path, params))
        return {"dag_runs": self.running}


def test_a_queued_run_names_the_run_that_holds_the_slot() -> None:
    api = _Api([{"dag_run_id": "scheduled__1", "start_date": "2026-12-01T10:00:00Z"}])
    said = airflow_runs._queued_behind(api, "streaming_pipeline", "manual__2")  # type: ignore[arg-type]
    assert said.startswith("queued behind run scheduled__1, running since 2026-12-01T10:00:00Z")
    assert "max_active_runs" in said
    assert api.asked == [("/dags/streaming_pipeline/dagRuns", {"state": ["running"], "limit": 5})]


def test_a_queued_run_with_no_other_run_active_is_just_queued() -> None:
    api = _Api([{"dag_run_id": "manual__2", "start_date": None}])  # itself, as it starts
    assert airflow_runs._queued_behind(api, "streaming_pipeline", "manual__2") == "queued"  # type: ignore[arg-type]
