"""Per-nation formats of the stand-in: phone, cell, national id, postcode.

Shapes follow what the real API 1.4 sends, quirks included: CA and UA phone numbers carry
letters, FI national ids are malformed (``NaNNA…undefined``), several nations send an empty
id name with a null value, and CA, GB, NL and NO send the postcode as a string (NO keeps
leading zeros). Every function takes the caller's ``random.Random`` so output is
reproducible from the request's seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Final

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# Draws use ``rng.random()`` only: it is C-fast and its sequence is stable across Python
# versions, unlike ``randrange``/``choice``, which run Python code per call.
_POW10: Final = tuple(10**n for n in range(16))


def _d(rng: random.Random, n: int) -> str:
    """``n`` random decimal digits, leading zeros kept."""
    return "%0*d" % (n, int(rng.random() * _POW10[n]))  # noqa: UP031 - fastest here


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """A random int in ``lo..hi-1``."""
    return lo + int(rng.random() * (hi - lo))


def _l(rng: random.Random) -> str:
    return _UPPER[int(rng.random() * 26)]


def _luhn_complete(digits: str) -> str:
    """Append the Luhn check digit (Canadian SIN)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            v -= 9 if v > 9 else 0
        total += v
    return digits + str((10 - total % 10) % 10)


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


# Each nation: (phone, cell, id, postcode). ``dob`` is (year, month, day) for ids built from it.
Phone = Callable[[random.Random], str]
IdMaker = Callable[[random.Random, tuple[int, int, int], str, str], dict[str, Any]]
Postcode = Callable[[random.Random], int | str]


def _no_id(rng: random.Random, dob: tuple[int, int, int], gender: str, last: str) -> dict[str, Any]:
    return {"name": "", "value": None}


def _ssn(rng: random.Random) -> str:
    area = _between(rng, 1, 900)
    while area == 666:
        area = _between(rng, 1, 900)
    return f"{area:03d}-{_between(rng, 1, 100):02d}-{_between(rng, 1, 10000):04d}"


def _gb_postcode(rng: random.Random) -> str:
    shape = int(rng.random() * 3)
    if shape == 0:  # "W7 1LQ"
        outward = f"{_l(rng)}{_between(rng, 1, 10)}"
    elif shape == 1:  # "SW19 2AB"
        outward = f"{_l(rng)}{_l(rng)}{_between(rng, 1, 100)}"
    else:  # "HY3X 5PN"
        outward = f"{_l(rng)}{_l(rng)}{_between(rng, 1, 10)}{_l(rng)}"
    return f"{outward} {int(rng.random() * 10)}{_l(rng)}{_l(rng)}"


def _de_svnr(
    rng: random.Random, dob: tuple[int, int, int], gender: str, last: str
) -> dict[str, Any]:
    y, m, d = dob
    serial = _between(rng, 0, 50) if gender == "male" else _between(rng, 50, 100)
    initial = last[:1].upper() or "X"
    value = (
        f"{_between(rng, 2, 90):02d} {d:02d}{m:02d}{y % 100:02d} {initial} {serial:02d}{_d(rng, 1)}"
    )
    return {"name": "SVNR", "value": value}


def _es_dni(
    rng: random.Random, dob: tuple[int, int, int], gender: str, last: str
) -> dict[str, Any]:
    n = int(rng.random() * 10**8)
    return {"name": "DNI", "value": f"{n:08d}-{_DNI_LETTERS[n % 23]}"}


def _fr_insee(
    rng: random.Random, dob: tuple[int, int, int], gender: str, last: str
) -> dict[str, Any]:
    y, m, _ = dob
    sex = 1 if gender == "male" else 2
    return {"name": "INSEE", "value": f"{sex}{y % 100:02d}{m:02d}{_d(rng, 8)} {_d(rng, 2)}"}


def _simple(name: str, make: Callable[[random.Random], str]) -> IdMaker:
    def make_id(
        rng: random.Random, dob: tuple[int, int, int], gender: str, last: str
    ) -> dict[str, Any]:
        return {"name": name, "value": make(rng)}

    return make_id


def _dated(name: str, sep: str, tail: int) -> IdMaker:
    """DDMMYY + separator + digits (DK CPR, NO FN)."""

    def make_id(
        rng: random.Random, dob: tuple[int, int, int], gender: str, last: str
    ) -> dict[str, Any]:
        y, m, d = dob
        return {"name": name, "value": f"{d:02d}{m:02d}{y % 100:02d}{sep}{_d(rng, tail)}"}

    return make_id


NATIONS: Final[dict[str, tuple[Phone, Phone, IdMaker, Postcode]]] = {
    "AU": (
        lambda r: f"0{rng_digit(r)}-{_d(r, 4)}-{_d(r, 4)}",
        lambda r: f"04{_d(r, 2)}-{_d(r, 3)}-{_d(r, 3)}",
        _simple("TFN", lambda r: _d(r, 9)),
        lambda r: _between(r, 200, 10000),
    ),
    "BR": (
        lambda r: f"({_d(r, 2)}) {_d(r, 4)}-{_d(r, 4)}",
        lambda r: f"({_d(r, 2)}) {_d(r, 4)}-{_d(r, 4)}",
        _simple("CPF", lambda r: f"{_d(r, 3)}.{_d(r, 3)}.{_d(r, 3)}-{_d(r, 2)}"),
        lambda r: _between(r, 10000, 100000),
    ),
    "CA": (
        lambda r: f"{_l(r)}{_d(r, 2)} {_l(r)}{_d(r, 2)}-{_d(r, 4)}",
        lambda r: f"{_l(r)}{_d(r, 2)} {_l(r)}{_d(r, 2)}-{_d(r, 4)}",
        _simple("SIN", lambda r: _luhn_complete(f"{_between(r, 1, 10)}{_d(r, 7)}")),
        lambda r: f"{_l(r)}{rng_digit(r)}{_l(r)} {rng_digit(r)}{_l(r)}{rng_digit(r)}",
    ),
    "CH": (
        lambda r: f"0{rng_digit(r)}{rng_digit(r)} {_d(r, 3)} {_d(r, 2)} {_d(r, 2)}",
        lambda r: f"07{rng_digit(r)} {_d(r, 3)} {_d(r, 2)} {_d(r, 2)}",
        _simple("AVS", lambda r: f"756.{_d(r, 4)}.{_d(r, 4)}.{_d(r, 2)}"),
        lambda r: _between(r, 1000, 10000),
    ),
    "DE": (
        lambda r: f"0{_d(r, 3)}-{_d(r, 7)}",
        lambda r: f"017{rng_digit(r)}-{_d(r, 7)}",
        _de_svnr,
        lambda r: _between(r, 10000, 100000),
    ),
    "DK": (
        lambda r: _d(r, 8),
        lambda r: _d(r, 8),
        _dated("CPR", "-", 4),
        lambda r: _between(r, 1000, 10000),
    ),
    "ES": (
        lambda r: f"9{_d(r, 2)}-{_d(r, 3)}-{_d(r, 3)}",
        lambda r: f"6{_d(r, 2)}-{_d(r, 3)}-{_d(r, 3)}",
        _es_dni,
        lambda r: _between(r, 10000, 100000),
    ),
    "FI": (
        lambda r: f"0{rng_digit(r)}-{_d(r, 3)}-{_d(r, 3)}",
        lambda r: f"04{rng_digit(r)}-{_d(r, 3)}-{_d(r, 2)}-{_d(r, 2)}",
        # The real 1.4 server really sends this broken value for Finland.
        _simple("HETU", lambda r: f"NaNNA{_d(r, 3)}undefined"),
        lambda r: _between(r, 10000, 100000),
    ),
    "FR": (
        lambda r: f"0{rng_digit(r)}-{_d(r, 2)}-{_d(r, 2)}-{_d(r, 2)}-{_d(r, 2)}",
        lambda r: f"06-{_d(r, 2)}-{_d(r, 2)}-{_d(r, 2)}-{_d(r, 2)}",
        _fr_insee,
        lambda r: _between(r, 10000, 100000),
    ),
    "GB": (
        lambda r: f"01{_d(r, 4)} {_d(r, 5)}",
        lambda r: f"07{_d(r, 3)} {_d(r, 6)}",
        _simple(
            "NINO",
            lambda r: (
                f"{_l(r)}{_l(r)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)} {'ABCD'[int(r.random() * 4)]}"
            ),
        ),
        _gb_postcode,
    ),
    "IE": (
        lambda r: f"0{_d(r, 2)}-{_d(r, 3)}-{_d(r, 4)}",
        lambda r: f"08{rng_digit(r)}-{_d(r, 3)}-{_d(r, 4)}",
        _simple("PPS", lambda r: f"{_d(r, 7)}{_l(r)}"),
        lambda r: _between(r, 10000, 100000),
    ),
    "IN": (
        lambda r: f"{_between(r, 6, 10)}{_d(r, 9)}",
        lambda r: f"{_between(r, 6, 10)}{_d(r, 9)}",
        _simple("UIDAI", lambda r: f"{_between(r, 2, 10)}{_d(r, 11)}"),
        lambda r: _between(r, 100000, 1000000),
    ),
    "IR": (
        lambda r: f"0{_d(r, 2)}-{_d(r, 8)}",
        lambda r: f"09{_d(r, 2)}-{_d(r, 3)}-{_d(r, 4)}",
        _no_id,
        lambda r: _between(r, 10000, 100000),
    ),
    "MX": (
        lambda r: f"({_between(r, 200, 1000)}) {_d(r, 3)} {_d(r, 4)}",
        lambda r: f"({_between(r, 200, 1000)}) {_d(r, 3)} {_d(r, 4)}",
        _simple("NSS", lambda r: f"{_d(r, 2)} {_d(r, 2)} {_d(r, 2)} {_d(r, 4)} {_d(r, 1)}"),
        lambda r: _between(r, 10000, 100000),
    ),
    "NL": (
        lambda r: f"(0{_d(r, 3)}) {_d(r, 6)}",
        lambda r: f"(06) {_d(r, 8)}",
        _simple("BSN", lambda r: _d(r, 8)),
        lambda r: f"{_between(r, 1000, 10000)} {_l(r)}{_l(r)}",
    ),
    "NO": (
        lambda r: _d(r, 8),
        lambda r: f"{'49'[int(r.random() * 2)]}{_d(r, 7)}",
        _dated("FN", "", 5),
        lambda r: _d(r, 4),
    ),
    "NZ": (
        lambda r: f"({_d(r, 3)})-{_d(r, 3)}-{_d(r, 4)}",
        lambda r: f"({_d(r, 3)})-{_d(r, 3)}-{_d(r, 4)}",
        _no_id,
        lambda r: _between(r, 1000, 10000),
    ),
    "RS": (
        lambda r: f"0{_d(r, 2)}-{_d(r, 4)}-{_d(r, 3)}",
        lambda r: f"06{rng_digit(r)}-{_d(r, 4)}-{_d(r, 3)}",
        _simple("SID", lambda r: _d(r, 9)),
        lambda r: _between(r, 10000, 100000),
    ),
    "TR": (
        lambda r: f"({_d(r, 3)})-{_d(r, 3)}-{_d(r, 4)}",
        lambda r: f"({_d(r, 3)})-{_d(r, 3)}-{_d(r, 4)}",
        _no_id,
        lambda r: _between(r, 10000, 100000),
    ),
    "UA": (
        lambda r: f"(0{_d(r, 2)}) {_l(r)}{_d(r, 2)}-{_d(r, 4)}",
        lambda r: f"(09{rng_digit(r)}) {_l(r)}{_d(r, 2)}-{_d(r, 4)}",
        _no_id,
        lambda r: _between(r, 10000, 100000),
    ),
    "US": (
        lambda r: f"({_between(r, 200, 1000)}) {_between(r, 200, 1000)}-{_d(r, 4)}",
        lambda r: f"({_between(r, 200, 1000)}) {_between(r, 200, 1000)}-{_d(r, 4)}",
        _simple("SSN", _ssn),
        lambda r: _between(r, 10000, 100000),
    ),
}

# Nations whose postcode the real API sends as a JSON string.
STRING_POSTCODE_NATS: Final = frozenset({"CA", "GB", "NL", "NO"})
# Nations whose national id is {"name": "", "value": null}.
NULL_ID_NATS: Final = frozenset({"IR", "NZ", "TR", "UA"})


def rng_digit(rng: random.Random) -> int:
    return int(rng.random() * 10)
