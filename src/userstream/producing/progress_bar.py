"""The live progress line of a producer run (stderr), or nothing when not wanted."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressLine:
    """A rich progress bar when the total is known, a live counter line otherwise."""

    def __init__(self, *, enabled: bool, total: int | None, description: str) -> None:
        self._progress: Progress | None = None
        self._task = None
        if not enabled:
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns += [
            TextColumn("[cyan]{task.fields[stats]}"),
            TimeElapsedColumn(),
        ]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=False)
        self._task = self._progress.add_task(description, total=total, stats="")

    def __enter__(self) -> ProgressLine:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(
        self, *, fetched: int, produced: int, dead_lettered: int, failed: int, rate: float
    ) -> None:
        if self._progress is None or self._task is None:
            return
        stats = (
            f"produced {produced:,}  dlq {dead_lettered:,}  failed {failed:,}  {rate:,.0f} users/s"
        )
        self._progress.update(self._task, completed=fetched, stats=stats)
