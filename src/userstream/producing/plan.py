"""Which pages a run asks for, and how big: fixed per run, so a replay asks the same.

The API's page P under seed S is the same users only for the same ``results``; a run is
therefore determined by ``(seed, start_page, results, count)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from userstream.config import SourceSettings

# The API answers page 1 beyond MAX_PAGE; an unbounded run continues with a derived seed
# instead of re-sending page 1.
from userstream.contract import MAX_PAGE, MAX_RESULTS
from userstream.errors import ConfigError


def page_size(
    source: SourceSettings, *, count: int | None, batch_size: int | None, rate: float | None
) -> int:
    """Users per request, fixed for the whole run.

    ``batch_size`` wins; otherwise ``source.results_per_page``, reduced to about one
    request per second under a ``rate`` limit (smoother than one huge page a minute).
    Never more than ``count``.
    """
    if batch_size is not None and not 1 <= batch_size <= MAX_RESULTS:
        raise ConfigError(
            f"--batch-size {batch_size} is out of range: the API serves 1..{MAX_RESULTS} "
            "users per request (and silently returns 1 for anything else)."
        )
    results = batch_size or source.results_per_page
    if rate is not None and batch_size is None:
        results = min(results, max(1, math.ceil(rate)))
    if count is not None:
        results = min(results, max(count, 1))
    return results


def page_sequence(seed: str, start_page: int) -> Iterator[tuple[int, str]]:
    """``(page, seed)`` pairs: pages up to MAX_PAGE under ``seed``, then ``seed-2`` from
    page 1, and so on. Deterministic, so a replay walks the same sequence."""
    if not 1 <= start_page <= MAX_PAGE:
        raise ConfigError(f"start_page {start_page} is out of range 1..{MAX_PAGE}.")
    page, epoch = start_page, 1
    while True:
        yield page, seed if epoch == 1 else f"{seed}-{epoch}"
        page += 1
        if page > MAX_PAGE:
            page, epoch = 1, epoch + 1
