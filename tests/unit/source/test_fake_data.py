"""The generator itself: replay stability across processes and releases."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import orjson

from userstream.source.standin.data import make_page


def test_known_seed_gives_known_users():
    # Replays (and the producer's idempotence after a restart) rely on these values. A change
    # to the generator that alters them changes every replayed page: make it deliberately.
    users = make_page("golden", 3, 2)
    assert [u["login"]["uuid"] for u in users] == [
        "c00793d4-bc4a-4ed4-9928-e18b7fc82fe7",
        "b312fbcc-59e8-417a-802d-33c1d2ac7bb5",
    ]
    assert [u["nat"] for u in users] == ["IE", "US"]


def test_same_users_in_another_process():
    code = (
        "import orjson, sys; from userstream.source.standin.data import make_page; "
        "sys.stdout.buffer.write(orjson.dumps(make_page('xproc', 9, 50, now=__import__("
        "'datetime').datetime(2030, 1, 1))))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert orjson.loads(other) == make_page("xproc", 9, 50, now=datetime(2030, 1, 1, tzinfo=UTC))


def test_ages_count_from_the_request_date():
    user = make_page("age", 1, 1, now=datetime(2100, 1, 1, tzinfo=UTC))[0]
    born = int(user["dob"]["date"][:4])
    assert user["dob"]["age"] in (2100 - born - 1, 2100 - born)
