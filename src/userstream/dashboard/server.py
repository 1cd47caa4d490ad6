"""The dashboard's web server: a Starlette app served by uvicorn, on 127.0.0.1 only.

Routes: ``/`` the page, ``/static/…`` its script, styles and the vendored Chart.js,
``/api/snapshot`` the data (``data.assemble``, refreshed by ``probes.Sampler``),
``/portraits/<id>`` a shown user's picture (``portraits``), ``/healthz``, and ``/metrics``:
the producer runs' counts for Prometheus (``metrics.served_runs``). Read-only: every
route is a GET. Requests naming another host than the loopback are refused (a web page
cannot reach it through DNS rebinding), and the page may load nothing from elsewhere
(Content-Security-Policy).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from userstream.config import Settings
from userstream.dashboard.portraits import Portraits
from userstream.dashboard.probes import FAST_S, SLOW_S, Sampler
from userstream.errors import ConfigError
from userstream.host import process
from userstream.pipeline import dashboard_name, dashboard_url
from userstream.producing.metrics import runs_file, served_runs

STATIC = Path(__file__).parent / "static"
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class _SecurityHeaders:
    """Adds ``HEADERS`` to every response (a plain ASGI middleware)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(
    sampler: Sampler,
    portraits: Portraits,
    producer_runs: Path,
    topic: str,
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
) -> Starlette:
    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def snapshot(request: Request) -> Response:
        return Response(
            sampler.snapshot(), media_type="application/json", headers={"cache-control": "no-store"}
        )

    def metrics(request: Request) -> Response:  # sync: a file read
        # The classic text format (what ``generate_latest`` writes), which every Prometheus reads.
        return Response(
            served_runs(producer_runs, topic), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def portrait(request: Request) -> Response:  # sync: Starlette runs it in a thread
        user_id = str(request.path_params["user_id"])[:64]
        body, kind = portraits.get(user_id, sampler.user(user_id))
        return Response(body, media_type=kind, headers={"cache-control": "private, max-age=3600"})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/api/snapshot", snapshot),
            Route("/metrics", metrics),
            Route("/portraits/{user_id}", portrait),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
            Middleware(_SecurityHeaders),
        ],
    )


class Dashboard:
    """The dashboard on ``port`` (None: ``dashboard.port``; 0: any free one).

    ``serve()`` runs it in the foreground until SIGINT/SIGTERM (``userstream dashboard``);
    ``with Dashboard(settings, 0) as board: board.url`` runs it in a thread (tests). While
    it serves it is recorded as the process ``pipeline.dashboard_name``, so ``status``
    shows it and ``down`` stops it.
    """

    def __init__(
        self,
        settings: Settings,
        port: int | None = None,
        *,
        fast_s: float = FAST_S,
        slow_s: float = SLOW_S,
    ) -> None:
        self.settings = settings
        self.port = settings.dashboard.port if port is None else port
        self.fast_s = fast_s
        self.slow_s = slow_s
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._context: contextlib.AbstractContextManager[uvicorn.Server] | None = None

    @property
    def url(self) -> str:
        return dashboard_url(self.settings.dashboard)

    def bind(self) -> None:
        """Take the port now (a taken one fails here, with the fix)."""
        if self._socket is not None:
            return
        host = self.settings.dashboard.host
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ConfigError(
                f"The dashboard cannot start: port {self.port} on {host} is already in use.",
                hint="Stop that program (`userstream status` shows a dashboard of ours), "
                "or choose another port, e.g. USERSTREAM_DASHBOARD__PORT=8091.",
            ) from None
        self._socket = sock
        self.port = int(sock.getsockname()[1])
        dashboard = self.settings.dashboard.model_copy(update={"port": self.port})
        self.settings = self.settings.model_copy(update={"dashboard": dashboard})

    def serve(self) -> None:
        """Serve in the foreground until SIGINT or SIGTERM."""
        with self._running() as server:
            server.run(sockets=[self._socket] if self._socket else None)

    def __enter__(self) -> Dashboard:
        self._context = self._running()
        server = self._context.__enter__()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"The dashboard did not start on {self.url}.")
            time.sleep(0.05)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._context is not None:
            self._context.__exit__(kind, exc, tb)
            self._context = None

    @contextlib.contextmanager
    def _running(self) -> Iterator[uvicorn.Server]:
        """Bound, recorded, sampling: the uvicorn server to run; undone on the way out."""
        self.bind()
        sampler = Sampler(self.settings, fast_s=self.fast_s, slow_s=self.slow_s)
        portraits = Portraits()
        config = uvicorn.Config(
            build_app(
                sampler,
                portraits,
                runs_file(self.settings.paths),
                self.settings.kafka.topic,
                self.settings.dashboard.allowed_hosts,
            ),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        name, paths = dashboard_name(self.settings.dashboard), self.settings.paths
        process.write_pid_file(paths, name, os.getpid())
        sampler.start()
        try:
            yield self._server
        finally:
            sampler.stop()
            portraits.close()
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            mine = process.running(paths, name)
            if mine is not None and mine.pid == os.getpid():
                paths.pid_file(name).unlink(missing_ok=True)
