"""The newest users' portraits, served by the dashboard itself so that no image is broken.

A user's thumbnail comes from the Random User API's portrait folder when that answers; any
other URL, a failed fetch or no network at all (the stand-in, CI) gives the user's initials
on a colour drawn from the id, as an SVG made here. The page only ever loads images from
its own origin. A failed connection rests the fetching for ``REST_S`` seconds, so an
offline machine answers at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from html import escape
from typing import Any

import httpx

#: Only the real API's portraits are fetched (never an arbitrary URL from a message).
PORTRAITS_URL = "https://randomuser.me/api/portraits/"
TIMEOUT_S = 3.0
REST_S = 300.0
CACHED = 200
SIZE = 48
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


def initials_svg(user_id: str, initials: str) -> bytes:
    """A round badge with ``initials`` (escaped), its hue drawn from ``user_id``."""
    hue = int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=2).digest()) % 360
    half = SIZE // 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}"><circle cx="{half}" cy="{half}" r="{half}" '
        f'fill="hsl({hue},45%,42%)"/><text x="{half}" y="{half}" dy="0.35em" '
        f'text-anchor="middle" font-family="sans-serif" font-size="18" fill="#fff">'
        f"{escape(initials[:3])}</text></svg>"
    ).encode()


class Portraits:
    """Fetches and keeps thumbnails; answers (bytes, media type) for a shown user."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client
        self._cache: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._resting_until = 0.0
        self._lock = threading.Lock()

    def get(self, user_id: str, user: dict[str, Any] | None) -> tuple[bytes, str]:
        from userstream.dashboard.data import initials

        url = str((user or {}).get("picture_thumbnail") or "")
        if url.startswith(PORTRAITS_URL):
            found = self._fetch(url)
            if found is not None:
                return found
        return initials_svg(user_id, initials(user or {})), "image/svg+xml"

    def _fetch(self, url: str) -> tuple[bytes, str] | None:
        with self._lock:  # one fetch at a time: a handful of thumbnails, then the cache
            if url in self._cache:
                return self._cache[url]
            if time.monotonic() < self._resting_until:
                return None
            if self._client is None:
                self._client = httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
            try:
                answer = self._client.get(url)
            except httpx.HTTPError:
                self._resting_until = time.monotonic() + REST_S
                return None
            kind = answer.headers.get("content-type", "").split(";")[0].strip()
            if answer.status_code != 200 or kind not in IMAGE_TYPES:
                return None
            self._cache[url] = (answer.content, kind)
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
            return self._cache[url]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
