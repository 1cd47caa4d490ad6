"""Is what landed good: quality checks over stored rows, and their report.

Pure functions (``check_*``, ``run_checks``) that know nothing of Cassandra, so they are
unit-tested on hand-written good and bad rows; the DAG's ``quality_check`` task runs them on
the rows ``quality.landing`` read back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from userstream import contract
from userstream.errors import TerminalError
from userstream.files import write_json

log = logging.getLogger(__name__)


#: Columns every stored profile must have filled: the stream's contract (what validation
#: requires) plus the lineage the stream adds. username, country and registered_at are
#: optional on purpose (the API omits them for some nationalities).
REQUIRED_COLUMNS: tuple[str, ...] = contract.REQUIRED_FIELDS + contract.LINEAGE_COLUMNS
MAX_AGE_YEARS = 120
# The stream's own email rule (stored emails are lower-cased); re.ASCII reads ``\s`` as
# Java's regex (Spark's rlike) does.
_EMAIL = re.compile(contract.EMAIL_PATTERN, re.ASCII)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    run_id: str
    checked_at: str
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "checked_at": self.checked_at,
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
        }


class QualityCheckFailed(TerminalError):
    """The stored data of a batch failed at least one quality check."""


def _utc(value: datetime) -> datetime:
    # The Cassandra driver returns naive datetimes that are UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _age_years(dob: datetime, now: datetime) -> int:
    dob = _utc(dob)
    years = now.year - dob.year
    if (now.month, now.day) < (dob.month, dob.day):
        years -= 1
    return years


def _sample(ids: Sequence[object], limit: int = 3) -> str:
    return ", ".join(str(i) for i in ids[:limit]) + (" …" if len(ids) > limit else "")


def check_completeness(rows: Sequence[Mapping[str, Any]]) -> CheckResult:
    """Every required column is present and not empty."""
    empty: dict[str, int] = {}
    bad_ids: list[object] = []
    for row in rows:
        row_ok = True
        for column in REQUIRED_COLUMNS:
            value = row.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                empty[column] = empty.get(column, 0) + 1
                row_ok = False
        if not row_ok:
            bad_ids.append(row.get("id"))
    passed = not bad_ids
    detail = (
        f"all {len(rows)} rows have {len(REQUIRED_COLUMNS)} required columns filled"
        if passed
        else f"{len(bad_ids)} of {len(rows)} rows miss required columns {sorted(empty)}: "
        f"first ids {_sample(bad_ids)}"
    )
    return CheckResult("completeness", passed, detail, {"rows": len(rows), "empty": empty})


def check_emails(rows: Sequence[Mapping[str, Any]]) -> CheckResult:
    """Every email looks like ``local@domain.tld`` (a missing one is completeness's finding)."""
    bad = [row for row in rows if row.get("email") and not _EMAIL.match(str(row["email"]))]
    passed = not bad
    detail = (
        f"all {len(rows)} emails valid"
        if passed
        else f"{len(bad)} of {len(rows)} emails invalid: first "
        + _sample([f"{row.get('id')}={row.get('email')!r}" for row in bad])
    )
    return CheckResult("valid_emails", passed, detail, {"rows": len(rows), "invalid": len(bad)})


def check_dates(rows: Sequence[Mapping[str, Any]], now: datetime | None = None) -> CheckResult:
    """dob is in the past with an age of 0–120 years; registration is not in the future."""
    now = now or datetime.now(UTC)
    bad: list[str] = []
    for row in rows:
        dob, registered = row.get("dob"), row.get("registered_at")
        if isinstance(dob, datetime):
            age = _age_years(dob, now)
            if _utc(dob) >= now or not 0 <= age <= MAX_AGE_YEARS:
                bad.append(f"{row.get('id')} dob={dob.isoformat()}")
                continue
        if isinstance(registered, datetime) and _utc(registered) > now:
            bad.append(f"{row.get('id')} registered_at={registered.isoformat()}")
    passed = not bad
    detail = (
        f"all {len(rows)} rows have plausible dates"
        if passed
        else f"{len(bad)} of {len(rows)} rows have implausible dates: first {_sample(bad)}"
    )
    return CheckResult(
        "plausible_dates", passed, detail, {"rows": len(rows), "implausible": len(bad)}
    )


def check_freshness(
    rows: Sequence[Mapping[str, Any]], max_delay_s: float, now: datetime | None = None
) -> CheckResult:
    """Each row was processed within ``max_delay_s`` of ingestion, and nothing is in the future."""
    now = now or datetime.now(UTC)
    delays: list[float] = []
    bad: list[str] = []
    for row in rows:
        ingested, processed = row.get("ingested_at"), row.get("processed_at")
        if not isinstance(ingested, datetime) or not isinstance(processed, datetime):
            continue  # completeness reports missing timestamps
        delay = (_utc(processed) - _utc(ingested)).total_seconds()
        delays.append(delay)
        if delay > max_delay_s or _utc(processed) > now:
            bad.append(f"{row.get('id')} delay={delay:.0f}s")
    passed = not bad
    worst = max(delays, default=0.0)
    detail = (
        f"max ingest→store delay {worst:.1f} s (limit {max_delay_s:.0f} s)"
        if passed
        else f"{len(bad)} of {len(rows)} rows landed later than {max_delay_s:.0f} s or in the "
        f"future: first {_sample(bad)}"
    )
    return CheckResult(
        "freshness", passed, detail, {"max_delay_s": round(worst, 3), "late": len(bad)}
    )


def check_reconciliation(
    *, produced: int, stored: int, rejected: int, dead_lettered: int, failed: int
) -> CheckResult:
    """Every produced message is stored or rejected, and the producer lost nothing."""
    figures = {
        "produced": produced,
        "stored": stored,
        "rejected": rejected,
        "dead_lettered": dead_lettered,
        "failed": failed,
    }
    passed = produced == stored + rejected and failed == 0
    detail = (
        f"produced {produced} = stored {stored} + rejected {rejected} "
        f"(+ {dead_lettered} dead-lettered by the producer)"
        if passed
        else f"produced {produced} ≠ stored {stored} + rejected {rejected}"
        + (f"; the producer failed to deliver {failed}" if failed else "")
    )
    return CheckResult("reconciliation", passed, detail, figures)


def run_checks(
    rows: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
    produced: int,
    rejected: int,
    dead_lettered: int,
    failed: int,
    max_delay_s: float,
    now: datetime | None = None,
    stored: int | None = None,
) -> QualityReport:
    """All checks over the stored rows of one batch; ``rows`` are that batch's stored users.

    Reconciliation counts messages: ``stored`` is the number of the batch's messages whose
    user is stored (``landed_counts``), which exceeds ``len(rows)`` when a user was
    produced twice; it defaults to ``len(rows)`` (every user produced once).
    """
    now = now or datetime.now(UTC)
    checks = [
        check_completeness(rows),
        check_emails(rows),
        check_dates(rows, now),
        check_freshness(rows, max_delay_s, now),
        check_reconciliation(
            produced=produced,
            stored=len(rows) if stored is None else stored,
            rejected=rejected,
            dead_lettered=dead_lettered,
            failed=failed,
        ),
    ]
    return QualityReport(run_id=run_id, checked_at=now.isoformat(), checks=checks)


def write_report(report: QualityReport, path: Path) -> None:
    """Write the report as JSON, whole (readers never see half a file)."""
    write_json(path, report.to_json(), indent=2)


def raise_for_report(report: QualityReport) -> None:
    """Raise ``QualityCheckFailed`` naming every failed check."""
    if report.passed:
        return
    failed = "; ".join(f"{c.name}: {c.detail}" for c in report.failures)
    raise QualityCheckFailed(
        f"Quality checks failed for run {report.run_id}: {failed}.",
        hint="Inspect the rows named above in Cassandra (userstream query) and the stream's log.",
    )
