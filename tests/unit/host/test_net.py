"""Which addresses are this machine's loopback, where the local runtime listens."""

from __future__ import annotations

import pytest

from userstream.host.net import on_this_machine, split_address


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.3", "::1", "localhost"])
def test_loopback_addresses_are_this_machine(host: str) -> None:
    assert on_this_machine(host)


@pytest.mark.parametrize("host", ["10.0.0.5", "cassandra", "cass1.example.com", "::"])
def test_other_addresses_and_names_are_not(host: str) -> None:
    assert not on_this_machine(host)


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("127.0.0.1:9092", ("127.0.0.1", 9092)),
        (" broker1:9093", ("broker1", 9093)),
        ("[::1]:9092", ("::1", 9092)),
        ("localhost", ("localhost", None)),
        ("::1", ("::1", None)),
    ],
)
def test_an_address_splits_into_host_and_port(address: str, parts: tuple[str, int | None]) -> None:
    assert split_address(address) == parts
