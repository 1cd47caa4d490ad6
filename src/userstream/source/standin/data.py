"""Deterministic fake users in the exact shape and JSON types of the Random User API 1.4.

Guarantee: the same ``(seed, page, index, nat filter)`` gives the same user, on any machine
and in any process, because every user draws from its own ``random.Random`` seeded from
those values (no global random state). Different pages or seeds give different users;
uuids are random 122-bit v4 values from that generator, so collisions across pages are
as unlikely as with real uuid4.

The hot path is plain dict building from small pre-split pools; a page of 5,000 users
takes a few tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, TypeVar

from userstream.source.standin._nations import NATIONS
from userstream.source.standin._pools import (
    FEMALE_TITLES,
    FRENCH_FEMALE_TITLES,
    NATS,
    PASSWORDS,
    POOLS,
    TIMEZONES,
    USERNAME_ADJECTIVES,
    USERNAME_ANIMALS,
)

FIELDS: Final[tuple[str, ...]] = (
    "gender",
    "name",
    "location",
    "email",
    "login",
    "dob",
    "registered",
    "phone",
    "cell",
    "id",
    "picture",
    "nat",
)
ALL_NATS: Final = NATS
VERSION: Final = "1.4"
_T = TypeVar("_T")

# The real server draws dates against a fixed instant (2022-05-23) so a seed keeps its users.
_CONSTANT_MS: Final = 1_653_344_189_000
_DOB_MIN_MS: Final = -800_000_000_000
_DOB_MAX_MS: Final = _CONSTANT_MS - 86_400_000 * 365 * 21
_REG_MIN_MS: Final = 1_016_688_461_000
_SALT_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"
_PICTURES: Final = "https://randomuser.me/api/portraits/"
_FRENCH_TITLES: Final = frozenset({"FR", "CH"})

DIRTY_KINDS: Final[tuple[str, ...]] = (
    "phone_letters",
    "coordinates_out_of_range",
    "missing_field",
    "null_uuid",
    "age_as_string",
)


def page_key(seed: str, page: int) -> int:
    """A 64-bit number naming one (seed, page); users are seeded from it plus their index."""
    digest = hashlib.blake2b(f"{seed}\x00{page}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _iso(ms: int) -> tuple[str, tuple[int, int, int]]:
    t = time.gmtime(ms // 1000)
    text = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms % 1000:03d}Z"
    )
    return text, (t.tm_year, t.tm_mon, t.tm_mday)


def _age(born: tuple[int, int, int], today: tuple[int, int, int]) -> int:
    years = today[0] - born[0]
    return years - 1 if (today[1], today[2]) < (born[1], born[2]) else years


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _pick(rnd: Callable[[], float], seq: Sequence[_T]) -> _T:
    return seq[int(rnd() * len(seq))]


def make_user(
    rng: random.Random, nat: str, gender: str | None, today: tuple[int, int, int]
) -> dict[str, Any]:
    """One user of nationality ``nat`` with every field, in the real API's field order.

    ``gender`` forces the gender (the real API honours it only without a seed); ``today``
    is the request's UTC date, against which ``dob.age`` and ``registered.age`` are counted.
    """
    pool = POOLS[nat]
    phone, cell, make_id, postcode = NATIONS[nat]
    rnd = rng.random
    choice = partial(_pick, rnd)
    gender = gender or ("male" if rnd() < 0.5 else "female")
    if gender == "male":
        first, first_mail = choice(pool.male)
        title = "Monsieur" if nat in _FRENCH_TITLES else "Mr"
    else:
        first, first_mail = choice(pool.female)
        title = choice(FRENCH_FEMALE_TITLES if nat in _FRENCH_TITLES else FEMALE_TITLES)
    last, last_mail = choice(pool.last)
    offset, description = choice(TIMEZONES)
    password = choice(PASSWORDS)
    salt = "".join([_SALT_CHARS[int(rnd() * 62)] for _ in range(8)])
    salted = (password + salt).encode()
    dob_text, dob_ymd = _iso(_DOB_MIN_MS + int(rnd() * (_DOB_MAX_MS - _DOB_MIN_MS)))
    reg_text, reg_ymd = _iso(_REG_MIN_MS + int(rnd() * (_CONSTANT_MS - _REG_MIN_MS)))
    picture_id = int(rnd() * (100 if gender == "male" else 97))
    folder = "men" if gender == "male" else "women"
    return {
        "gender": gender,
        "name": {"title": title, "first": first, "last": last},
        "location": {
            "street": {"number": 1 + int(rnd() * 9999), "name": choice(pool.streets)},
            "city": choice(pool.cities),
            "state": choice(pool.states),
            "country": pool.country,
            "postcode": postcode(rng),
            "coordinates": {
                "latitude": f"{rnd() * 180 - 90:.4f}",
                "longitude": f"{rnd() * 360 - 180:.4f}",
            },
            "timezone": {"offset": offset, "description": description},
        },
        "email": f"{first_mail}.{last_mail}@example.com",
        "login": {
            "uuid": _uuid4(rng),
            "username": f"{choice(USERNAME_ADJECTIVES)}{choice(USERNAME_ANIMALS)}"
            f"{100 + int(rnd() * 900)}",
            "password": password,
            "salt": salt,
            "md5": hashlib.md5(salted, usedforsecurity=False).hexdigest(),
            "sha1": hashlib.sha1(salted, usedforsecurity=False).hexdigest(),
            "sha256": hashlib.sha256(salted).hexdigest(),
        },
        "dob": {"date": dob_text, "age": _age(dob_ymd, today)},
        "registered": {"date": reg_text, "age": _age(reg_ymd, today)},
        "phone": phone(rng),
        "cell": cell(rng),
        "id": make_id(rng, dob_ymd, gender, last),
        "picture": {
            "large": f"{_PICTURES}{folder}/{picture_id}.jpg",
            "medium": f"{_PICTURES}med/{folder}/{picture_id}.jpg",
            "thumbnail": f"{_PICTURES}thumb/{folder}/{picture_id}.jpg",
        },
        "nat": nat,
    }


def make_dirty(rng: random.Random, user: dict[str, Any]) -> str:
    """Break ``user`` in one of the ways real responses are broken; return which way."""
    kind = rng.choice(DIRTY_KINDS)
    if kind == "phone_letters":
        digits = list(user["phone"])
        for _ in range(2):
            digits[rng.randrange(len(digits))] = rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
        user["phone"] = "".join(digits)
    elif kind == "coordinates_out_of_range":
        user["location"]["coordinates"] = {
            "latitude": f"{rng.uniform(90.0001, 180):.4f}",
            "longitude": f"{rng.uniform(-360, -180.0001):.4f}",
        }
    elif kind == "missing_field":
        victim = rng.choice(("email", "dob", "phone", "location.postcode", "name.last"))
        parent, _, leaf = victim.rpartition(".")
        (user[parent] if parent else user).pop(leaf)
    elif kind == "null_uuid":
        user["login"]["uuid"] = None
    else:
        user["dob"]["age"] = str(user["dob"]["age"])
    return kind


def make_page(
    seed: str,
    page: int,
    results: int,
    *,
    nats: tuple[str, ...] = ALL_NATS,
    gender: str | None = None,
    fields: tuple[str, ...] = FIELDS,
    dirty_share: float = 0.0,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """``results`` users for ``(seed, page)``, keeping only ``fields`` (top-level names).

    User ``i`` depends only on ``(seed, page, i, nats, gender)``: asking for fewer results
    returns a prefix of a bigger page, and ``fields`` never changes the values kept.
    ``dirty_share`` (0..1) of users are broken by :func:`make_dirty`, chosen by the same
    seed, so dirty users are reproducible too.
    """
    today_dt = now or datetime.now(tz=UTC)
    today = (today_dt.year, today_dt.month, today_dt.day)
    key = page_key(seed, page) << 13
    rng = random.Random()  # noqa: S311 - reproducible fake data, not secrets
    drop = [f for f in FIELDS if f not in fields]
    users = []
    for index in range(results):
        rng.seed(key + index)
        nat = nats[int(rng.random() * len(nats))]
        user = make_user(rng, nat, gender, today)
        if dirty_share and rng.random() < dirty_share:
            make_dirty(rng, user)
        for name in drop:
            user.pop(name, None)
        users.append(user)
    return users
