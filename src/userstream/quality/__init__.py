"""Did a produced batch land (``landing``), and is what landed good (``checks``)?

The Airflow DAG's questions after a batch: ``landing`` finds each produced message again in
Cassandra (a stored profile or a reject), ``checks`` judges the stored rows. Both are here
under one name, as the DAG's task bodies use them.
"""

from userstream.quality.checks import (
    MAX_AGE_YEARS,
    REQUIRED_COLUMNS,
    CheckResult,
    QualityCheckFailed,
    QualityReport,
    check_completeness,
    check_dates,
    check_emails,
    check_freshness,
    check_reconciliation,
    raise_for_report,
    run_checks,
    write_report,
)
from userstream.quality.landing import (
    BatchNotLanded,
    Landing,
    Message,
    fetch_profiles,
    fetch_rejected,
    find_landed,
    landed_counts,
    missing,
    not_landed,
    wait_landed,
)

__all__ = [
    "MAX_AGE_YEARS",
    "REQUIRED_COLUMNS",
    "BatchNotLanded",
    "CheckResult",
    "Landing",
    "Message",
    "QualityCheckFailed",
    "QualityReport",
    "check_completeness",
    "check_dates",
    "check_emails",
    "check_freshness",
    "check_reconciliation",
    "fetch_profiles",
    "fetch_rejected",
    "find_landed",
    "landed_counts",
    "missing",
    "not_landed",
    "raise_for_report",
    "run_checks",
    "wait_landed",
    "write_report",
]
