"""Errors of the Random User API client: transient (retry later) or terminal (fix something)."""

from __future__ import annotations

from userstream.errors import TerminalError, TransientError


class SourceUnavailable(TransientError):
    """The API did not give a usable page within the retry budget (429, 5xx, timeouts,
    connection errors, empty pages). Trying again later may work.

    ``url``, ``page``, ``status`` (the last HTTP status, or None when no answer came) and
    ``attempts`` say what happened.
    """

    def __init__(
        self, message: str, *, url: str, page: int, status: int | None, attempts: int, hint: str
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.page = page
        self.status = status
        self.attempts = attempts


class FetchStopped(SourceUnavailable):
    """The caller asked to stop while the client was waiting to retry a page."""


class SourceResponseError(TerminalError):
    """The API answered something retrying will not fix: a 4xx other than 429 (e.g. 404
    for a version it does not serve), or a body that is not a Random User API page."""

    def __init__(self, message: str, *, url: str, page: int, status: int | None, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.page = page
        self.status = status
