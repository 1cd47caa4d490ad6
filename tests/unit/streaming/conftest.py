"""Real users of the API 1.4 for the streaming unit tests (no Spark, Kafka or Cassandra)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

# Real users from the API 1.4 (docs: randomuser-api.md), hashes trimmed.
LAURA: dict[str, Any] = {
    "gender": "female",
    "name": {"title": "Miss", "first": "Laura", "last": "Woods"},
    "location": {
        "street": {"number": 2479, "name": "Henry Street"},
        "city": "Blessington",
        "state": "Wexford",
        "country": "Ireland",
        "postcode": 78276,
        "coordinates": {"latitude": "2.0565", "longitude": "95.2422"},
        "timezone": {"offset": "+1:00", "description": "Brussels, Copenhagen, Madrid, Paris"},
    },
    "email": "laura.woods@example.com",
    "login": {
        "uuid": "9f07341f-c7e6-45b7-bab0-af6de5a4582d",
        "username": "angryostrich988",
        "password": "racers",
        "salt": "B5ywSDUM",
        "md5": "b1a5b1ee4c5e0a7ec4b0a4bf5b0e1c11",
        "sha1": "x",
        "sha256": "y",
    },
    "dob": {"date": "1967-07-23T09:18:33.666Z", "age": 59},
    "registered": {"date": "2018-10-18T04:05:51.990Z", "age": 8},
    "phone": "031-623-5189",
    "cell": "081-807-8083",
    "id": {"name": "PPS", "value": "1101776T"},
    "picture": {
        "large": "https://randomuser.me/api/portraits/women/88.jpg",
        "medium": "https://randomuser.me/api/portraits/med/women/88.jpg",
        "thumbnail": "https://randomuser.me/api/portraits/thumb/women/88.jpg",
    },
    "nat": "IE",
}

MARTEN: dict[str, Any] = {
    "gender": "male",
    "name": {"title": "Mr", "first": "Marten", "last": "Faber"},
    "location": {
        "street": {"number": 6167, "name": "Grüner Weg"},
        "city": "Falkenberg/Elster",
        "state": "Thüringen",
        "country": "Germany",
        "postcode": 99553,
        "coordinates": {"latitude": "89.4367", "longitude": "135.6354"},
        "timezone": {"offset": "+5:45", "description": "Kathmandu"},
    },
    "email": "marten.faber@example.com",
    "login": {"uuid": "1cd1e622-12bb-4b35-a2c9-63ff7bda6c73", "username": "yellowfish737"},
    "dob": {"date": "1960-08-01T11:13:57.264Z", "age": 66},
    "registered": {"date": "2002-04-03T08:57:47.321Z", "age": 24},
    "phone": "0100-8354415",
    "cell": "0172-4195644",
    "id": {"name": "SVNR", "value": "18 010860 F 495"},
    "picture": {"large": "l", "medium": "m", "thumbnail": "t"},
    "nat": "DE",
}

INGESTED = dt.datetime(2026, 11, 23, 10, 0, 0, 123000)
INGESTED_HEADER = b"2026-11-23T10:00:00.123Z"


def user(base: dict[str, Any] = LAURA, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted-path changes (value ``...`` deletes the field)."""
    out = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = out
        for part in parents:
            node = node[part]
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return out
