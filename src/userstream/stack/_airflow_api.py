"""A small client of the Airflow 3 REST API (v2) with a JWT from ``POST /auth/token``.

Only what the CLI and the tests need: health, DAGs and import errors, unpause, trigger,
a run and its task instances, a task's log, clearing tasks. Errors become
``UserstreamError`` sentences. Two things are retried here: a fresh token, once, when the
current one has expired; and an answer 5xx, for ``SERVER_ERROR_RETRY_S``: on its SQLite
database Airflow answers 500 "Database error" when a write meets another process's lock
(its scheduler, DAG processor and API server all write), which passes in a moment. Every
call here may be repeated: a trigger names its run itself, so a repeat makes no second run.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from userstream.errors import TerminalError, TransientError

TERMINAL_RUN_STATES = frozenset({"success", "failed"})

#: How long an answer 5xx is tried again, with waits of 0.5, 1, 2, 4 … s between tries.
SERVER_ERROR_RETRY_S = 30.0

log = logging.getLogger(__name__)


class AuthRefused(TerminalError):
    """The API refused the user name and password."""


def fetch_token(base_url: str, username: str, password: str, *, timeout: float = 10.0) -> str:
    """A JWT for ``username``; raises ``AuthRefused`` when the credentials are wrong."""
    try:
        response = httpx.post(
            f"{base_url}/auth/token",
            json={"username": username, "password": password},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise TransientError(
            f"The Airflow API at {base_url} did not answer: {exc}.",
            hint="Start it with `userstream airflow up`.",
        ) from exc
    if response.status_code in (401, 403):
        raise AuthRefused(f"The Airflow API refused the credentials of user {username!r}.")
    if response.status_code >= 400:
        raise TransientError(
            f"POST /auth/token answered {response.status_code}: {response.text[:200]}."
        )
    token = response.json().get("access_token")
    if not isinstance(token, str):
        raise TransientError("POST /auth/token answered without an access_token.")
    return token


def health(base_url: str, *, timeout: float = 5.0) -> dict[str, Any] | None:
    """``GET /api/v2/monitor/health`` (no login needed), or None when nothing answers."""
    try:
        response = httpx.get(f"{base_url}/api/v2/monitor/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    return body if isinstance(body, dict) else None


class AirflowApi:
    """Authenticated calls to ``/api/v2``. Construct, then call; the token is fetched lazily."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self._username = username
        self._password = password
        self._timeout = timeout
        self._token: str | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # Paths are relative to /api/v2 (e.g. "/dags").
        deadline = time.monotonic() + SERVER_ERROR_RETRY_S
        wait = 0.5
        while True:
            response = self._send(method, path, **kwargs)
            if response.status_code < 500 or time.monotonic() + wait > deadline:
                break
            log.warning("airflow_api_retry method=%s path=%s status=%d answer=%s",
                        method, path, response.status_code, response.text[:200])  # fmt: skip
            time.sleep(wait)
            wait *= 2
        if response.status_code >= 400:
            error = TerminalError if response.status_code < 500 else TransientError
            raise error(
                f"{method} /api/v2{path} answered {response.status_code}: {response.text[:300]}."
            )
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, with a fresh token once if the current one has expired."""
        for attempt in range(2):
            if self._token is None:
                self._token = fetch_token(self.base_url, self._username, self._password)
            try:
                response = httpx.request(
                    method,
                    f"{self.base_url}/api/v2{path}",
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=self._timeout,
                    **kwargs,
                )
            except httpx.HTTPError as exc:
                raise TransientError(
                    f"{method} /api/v2{path} failed: {exc}.",
                    hint="Is Airflow up? `userstream airflow status`.",
                ) from exc
            if response.status_code == 401 and attempt == 0:
                self._token = None  # expired: log in again once
                continue
            return response
        raise AuthRefused(f"The Airflow API keeps refusing the token of {self._username!r}.")

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params or None).json()

    def dags(self) -> list[dict[str, Any]]:
        return list(self.get("/dags", limit=1000)["dags"])

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/importErrors", limit=1000)["import_errors"])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """Start a run of ``dag_id`` now. Its id is made here, in Airflow's own form, so a
        call repeated after an error makes no second run: one that finds it made (409)
        returns it."""
        now = datetime.now(UTC)
        run_id = f"manual__{now.isoformat()}_{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        try:
            return dict(self._request("POST", f"/dags/{dag_id}/dagRuns", json=body).json())
        except TerminalError:
            try:
                return self.run(dag_id, run_id)  # made by a try that answered 5xx
            except TerminalError:
                pass
            raise

    def fail_run(self, dag_id: str, run_id: str, note: str) -> None:
        """Mark a run failed (its unfinished tasks with it), with a note saying why."""
        body = {"state": "failed", "note": note}
        self._request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json=body)

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)
        return list(body["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[Any]:
        """The structured log events of one try (a list of dicts, or strings on old logs)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        body = self.get(path, full_content="true")
        content = body.get("content", [])
        return list(content) if isinstance(content, list) else [content]

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Clear these tasks of a finished run so the scheduler runs them again."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "only_failed": False,
            "reset_dag_runs": True,
        }
        self._request("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)
