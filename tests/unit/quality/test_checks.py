"""Quality checks over hand-written good and bad rows (no Cassandra needed)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from userstream import quality
from userstream.quality import Message

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def good_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "first_name": "Laura",
        "last_name": "Woods",
        "email": "laura.woods@example.com",
        "username": "angryostrich988",
        # The driver hands back naive UTC datetimes.
        "dob": datetime(1967, 7, 23, 9, 18, 33),
        "registered_at": datetime(2018, 10, 18, 4, 5, 51),
        "country": "Ireland",
        "nationality": "IE",
        "ingested_at": datetime(2026, 6, 1, 11, 59, 0),
        "processed_at": datetime(2026, 6, 1, 11, 59, 4),
        "kafka_partition": 0,
        "kafka_offset": 42,
        "id_value": None,  # legitimately null for several nations: not required
    }
    row.update(changes)
    return row


def run(rows: list[dict[str, Any]], **counts: int) -> quality.QualityReport:
    figures = {"produced": len(rows), "rejected": 0, "dead_lettered": 0, "failed": 0}
    figures.update(counts)
    return quality.run_checks(rows, run_id="r1", max_delay_s=900, now=NOW, **figures)


def test_good_rows_pass_every_check() -> None:
    report = run([good_row() for _ in range(5)])
    assert report.passed, report.failures
    assert [c.name for c in report.checks] == [
        "completeness",
        "valid_emails",
        "plausible_dates",
        "freshness",
        "reconciliation",
    ]


@pytest.mark.parametrize(
    ("bad", "check"),
    [
        ({"email": None}, "completeness"),
        ({"first_name": "  "}, "completeness"),
        ({"kafka_offset": None}, "completeness"),
        ({"email": "laura.woods@example"}, "valid_emails"),
        ({"email": "laura woods@example.com"}, "valid_emails"),
        ({"email": "@example.com"}, "valid_emails"),
        ({"dob": datetime(2027, 1, 1)}, "plausible_dates"),
        ({"dob": datetime(1890, 1, 1)}, "plausible_dates"),
        ({"registered_at": datetime(2026, 7, 1)}, "plausible_dates"),
        ({"processed_at": datetime(2026, 6, 1, 13, 0)}, "freshness"),
        ({"ingested_at": datetime(2026, 6, 1, 10, 0)}, "freshness"),
    ],
)
def test_one_bad_row_fails_exactly_its_check(bad: dict[str, Any], check: str) -> None:
    rows = [good_row(), good_row(**bad), good_row()]
    report = run(rows)
    assert [c.name for c in report.failures] == [check]
    assert str(rows[1]["id"]) in report.failures[0].detail


def test_age_boundaries() -> None:
    assert quality.check_dates([good_row(dob=datetime(1906, 6, 2))], NOW).passed  # 119
    assert not quality.check_dates([good_row(dob=datetime(1905, 6, 1))], NOW).passed  # 121


def test_reconciliation_counts_rejects_and_producer_failures() -> None:
    rows = [good_row() for _ in range(3)]
    assert run(rows, produced=5, rejected=2, dead_lettered=4).passed
    short = run(rows, produced=5, rejected=1)
    assert [c.name for c in short.failures] == ["reconciliation"]
    assert "produced 5 ≠ stored 3 + rejected 1" in short.failures[0].detail
    assert not run(rows, failed=1).passed


def test_missing_matches_by_id_or_by_offset() -> None:
    stored = str(uuid.uuid4())
    messages = [
        Message(stored.upper(), 0, 1),  # stored (ids compare case-insensitively)
        Message("not-a-uuid", 1, 7),  # rejected
        Message(str(uuid.uuid4()), 1, 8),  # nowhere
    ]
    assert quality.missing(messages, {stored}, {(1, 7)}) == [messages[2]]


def test_report_is_written_as_json_and_failure_names_the_check(tmp_path: Path) -> None:
    report = run([good_row(email="broken")])
    path = tmp_path / "results" / "quality.json"
    quality.write_report(report, path)
    data = json.loads(path.read_text())
    assert data["run_id"] == "r1"
    assert data["passed"] is False
    assert {c["name"]: c["passed"] for c in data["checks"]}["valid_emails"] is False
    with pytest.raises(quality.QualityCheckFailed, match="valid_emails: 1 of 1 emails invalid"):
        quality.raise_for_report(report)


def test_a_passing_report_does_not_raise() -> None:
    quality.raise_for_report(run([good_row()]))


# --- one contract with the stream's validation ------------------------------------------


def test_required_columns_are_the_streams_contract() -> None:
    from userstream import contract

    assert quality.REQUIRED_COLUMNS == contract.REQUIRED_FIELDS + contract.LINEAGE_COLUMNS
    # The stream stores users without these on purpose (API gaps for some nations).
    assert not {"username", "country", "registered_at"} & set(quality.REQUIRED_COLUMNS)


def test_a_user_the_stream_stores_without_optional_fields_passes() -> None:
    row = good_row(username=None, country=None, registered_at=None)
    assert run([row]).passed, run([row]).failures


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("laura.woods@example.com", True),
        ("a@b.c.", True),  # the stream's rule accepts it, so the store may hold it
        ("laura.woods@example", False),
        ("laura woods@example.com", False),
        ("@example.com", False),
    ],
)
def test_email_rule_is_the_streams_rule(email: str, valid: bool) -> None:
    import re

    from userstream import contract

    assert bool(re.match(contract.EMAIL_PATTERN, email)) is valid
    assert quality.check_emails([good_row(email=email)]).passed is valid


# --- reconciliation per message ---------------------------------------------------------


def test_a_user_produced_twice_counts_as_two_stored_messages() -> None:
    twice = str(uuid.uuid4())
    other = str(uuid.uuid4())
    messages = [
        Message(twice, 0, 1),
        Message(twice, 1, 2),  # produced twice on purpose
        Message(other, 0, 3),
        Message("not-a-uuid", 1, 4),  # rejected
    ]
    rows = [good_row(id=uuid.UUID(twice)), good_row(id=uuid.UUID(other))]
    stored_ids = {twice, other}
    stored, rejected = quality.landed_counts(messages, stored_ids, {(1, 4)})
    assert (stored, rejected) == (3, 1)
    landing = quality.Landing(rows, {(1, 4)}, [])
    assert landing.counts(messages) == (3, 1)
    report = run(rows, produced=4, stored=stored, rejected=rejected)
    assert report.passed, report.failures
    # Counting distinct users instead would have failed the batch.
    assert not run(rows, produced=4, rejected=1).passed


def test_a_rejected_message_is_not_also_counted_stored() -> None:
    user = str(uuid.uuid4())
    messages = [Message(user, 0, 1), Message(user, 0, 2)]  # the second one was rejected
    assert quality.landed_counts(messages, {user}, {(0, 2)}) == (1, 1)
