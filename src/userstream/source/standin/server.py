"""A local stand-in for the Random User API 1.4, served over real HTTP.

It serves ``/api/`` and ``/api/1.4/`` with the real contract (see ``standin.data`` for the
users and ``Faults`` for what it can break on purpose). Other versions answer 404.
Formats: ``json`` (the default, and what unknown values fall back to, like the real
server) and ``pretty``/``prettyjson``; ``csv``, ``yaml`` and ``xml`` answer 400 because
the pipeline never asks for them.

Run it in-process with ``with FakeApiServer() as api: api.url`` (ephemeral port, background
thread), or as a process with ``userstream fake-api``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from userstream.contract import MAX_PAGE, MAX_RESULTS
from userstream.errors import ConfigError
from userstream.source.standin.data import ALL_NATS, FIELDS, VERSION, make_page
from userstream.source.standin.faults import COWBOY, Faults, hits

log = logging.getLogger(__name__)

_API_PATHS = frozenset({"/api", "/api/", f"/api/{VERSION}", f"/api/{VERSION}/"})
_UNSERVED_FORMATS = frozenset({"csv", "yaml", "xml"})


def _int_or(value: str | None, lo: int, hi: int, default: int) -> int:
    """The real server's rule: a number within ``lo..hi``, anything else is ``default``."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if lo <= number <= hi else default


def _field_list(value: str | None) -> list[str]:
    return [w.strip().lower() for w in (value or "").split(",") if w.strip()]


class _Budget:
    """Users served per client within a sliding window (the live service's 429 rule)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._served: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, users: int) -> int | None:
        """Count ``users`` for ``client``; return the users already served when over budget."""
        now = time.monotonic()
        with self._lock:
            served = self._served.setdefault(client, deque())
            while served and served[0][0] <= now - self.window_s:
                served.popleft()
            used = sum(n for _, n in served)
            if used + users > self.limit:
                return used
            served.append((now, users))
            return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real service
    server: _Server

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path not in _API_PATHS:
            self.send_json(
                404, {"error": "Not found: this stand-in serves /api/ and /api/1.4/ only."}
            )
            return
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self.server.owner.answer(self, query)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        self.send_raw(status, raw, headers)

    def send_raw(self, status: int, raw: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake-api request client=%s %s", self.client_address[0], format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeApiServer


class FakeApiServer:
    """The Random User API 1.4 stand-in. ``start()`` binds and serves on a daemon thread.

    Guarantees: same ``seed`` + ``page`` (+ ``nat``) → identical users; different pages →
    different users; nothing random is shared between requests, so concurrent clients
    never disturb each other's replay.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None
    ) -> None:
        self.host = host
        self._port = port
        self.faults = faults or Faults()
        self._budget = (
            _Budget(self.faults.user_budget, self.faults.budget_window_s)
            if self.faults.user_budget is not None
            else None
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._count_lock = threading.Lock()
        self.requests = 0  # API requests seen, faults included

    # -- lifecycle -------------------------------------------------------------------
    def bind(self) -> None:
        """Open the listening socket (no serving yet); raises ConfigError when it cannot."""
        if self._server is not None:
            return
        try:
            server = _Server((self.host, self._port), _Handler)
        except OSError as exc:
            raise ConfigError(
                f"The API stand-in cannot listen on {self.host}:{self._port}: {exc.strerror}.",
                hint="Choose another port with --port, or stop what is using it.",
            ) from exc
        server.owner = self
        self._server = server
        self._port = server.server_address[1]

    def start(self) -> FakeApiServer:
        """Bind and serve on a background thread; returns self for chaining."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-api-{self._port}", daemon=True
        )
        self._thread.start()
        log.info("fake-api started url=%s", self.url)
        return self

    def serve_forever(self) -> None:
        """Bind and serve on the calling thread until interrupted (the CLI's mode)."""
        self.bind()
        assert self._server is not None
        log.info("fake-api serving url=%s", self.url)
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        log.info("fake-api stopped port=%s", self._port)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (kept after ``stop()``); an ephemeral port is known once bound."""
        if self._port == 0:
            raise RuntimeError("FakeApiServer has no port yet: call start() first.")
        return self._port

    @property
    def url(self) -> str:
        """The versioned base URL, e.g. ``http://127.0.0.1:PORT/api/1.4/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/{VERSION}/"

    # -- one request -------------------------------------------------------------------
    def answer(self, handler: _Handler, query: dict[str, str]) -> None:
        """Apply the contract and the faults to one API request."""
        faults = self.faults
        with self._count_lock:
            self.requests += 1
            n = self.requests
        if faults.latency_s:
            time.sleep(faults.latency_s)
        retry_after = (
            {} if faults.retry_after_s is None else {"Retry-After": str(faults.retry_after_s)}
        )

        results = _int_or(query.get("results"), 1, MAX_RESULTS, 1)
        if self._budget is not None:
            used = self._budget.take(handler.client_address[0], results)
            if used is not None:
                handler.send_json(429, {"error": COWBOY.format(users=used + results)}, retry_after)
                return
        if hits(n, faults.error_first, faults.error_every):
            handler.send_raw(faults.error_status, b"", retry_after)
            return
        if hits(n, faults.malformed_first, faults.malformed_every):
            handler.send_raw(200, b'{"results": [{"gender": "fem')
            return

        fmt = (query.get("format") or query.get("fmt") or "json").lower()
        if fmt in _UNSERVED_FORMATS:
            handler.send_json(
                400, {"error": f"The local stand-in serves format=json only, not {fmt}."}
            )
            return
        seed = query.get("seed") or secrets.token_hex(8)
        page = _int_or(query.get("page"), 1, MAX_PAGE, 1)
        wanted = [
            n.strip().upper()
            for n in (query.get("nat") or query.get("nationality") or "").split(",")
        ]
        # Invalid codes are ignored; none valid means every nation.
        nats = tuple(c for c in dict.fromkeys(wanted) if c in ALL_NATS) or ALL_NATS
        gender = query.get("gender")
        # The real server ignores gender when a seed is given, so replays do not depend on it.
        if gender not in ("male", "female") or query.get("seed"):
            gender = None
        include = _field_list(query.get("inc")) or list(FIELDS)
        exclude = set(_field_list(query.get("exc")))
        fields = tuple(f for f in FIELDS if f in include and f not in exclude)

        users = (
            []
            if hits(n, faults.empty_first, faults.empty_every)
            else make_page(
                seed,
                page,
                results,
                nats=nats,
                gender=gender,
                fields=fields,
                dirty_share=faults.dirty_share,
            )
        )
        body: dict[str, Any] = {"results": users}
        if "noinfo" not in query:
            body["info"] = {"seed": seed, "results": len(users), "page": page, "version": VERSION}
        option = orjson.OPT_INDENT_2 if fmt in ("pretty", "prettyjson") else 0
        handler.send_raw(200, orjson.dumps(body, option=option))
