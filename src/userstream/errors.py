"""One base exception; every error says what happened and what to do next.

The CLI prints ``UserstreamError`` as a sentence (no stack trace) and exits non-zero.
Transient errors may be retried by the caller; terminal ones must not be.
"""

from __future__ import annotations

from pathlib import Path


class UserstreamError(Exception):
    """Base of every error the project raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None, log: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log = log

    def __str__(self) -> str:
        parts = [self.message]
        if self.hint:
            parts.append(self.hint)
        if self.log:
            parts.append(f"See the log: {self.log}")
        return " ".join(parts)


class TransientError(UserstreamError):
    """Worth retrying: a timeout, a 429/5xx, a broker or node briefly away."""


class TerminalError(UserstreamError):
    """Retrying will not help: bad configuration, bad input, a missing prerequisite."""


class ConfigError(TerminalError):
    """The configuration or the machine is not as it must be."""
