"""Account numbering: distinct across a swarm's workers, slots reused, addresses distinct."""

from __future__ import annotations

import pytest

from journeys.accounts import AccountPool, account_email, client_address
from models.catalogue import PERSONAS


def test_workers_interleave_without_collisions() -> None:
    stride = 3
    numbers: list[int] = []
    for worker in range(stride):
        pool = AccountPool("contractor", seeded=1400)
        pool.configure(worker_index=worker, stride=stride)
        numbers += [pool.acquire().number for _ in range(100)]
    assert len(numbers) == len(set(numbers)) == 300
    assert sorted(numbers) == list(range(300))  # dense: the lowest accounts, which have data


def test_released_slots_are_reused_lowest_first() -> None:
    pool = AccountPool("homeowner", seeded=2400)
    accounts = [pool.acquire() for _ in range(5)]
    pool.release(accounts[3])
    pool.release(accounts[1])
    assert pool.live == 3
    assert [pool.acquire().number for _ in range(3)] == [1, 3, 5]
    assert not pool.wrapped


def test_more_users_than_accounts_wraps_and_says_so() -> None:
    pool = AccountPool("operator", seeded=2)
    assert [pool.acquire().number for _ in range(3)] == [0, 1, 0]
    assert pool.wrapped


def test_email_follows_the_seeders_pattern() -> None:
    assert account_email("homeowner", 0) == "homeowner0@seed.example"
    assert account_email("operator", 12) == "operator12@seed.example"
    with pytest.raises(ValueError, match="-1"):
        account_email("operator", -1)


def test_addresses_are_distinct_per_persona_and_number() -> None:
    addresses = {client_address(p, n) for p in PERSONAS for n in range(0, 300_000, 7)}
    assert len(addresses) == len(PERSONAS) * len(range(0, 300_000, 7))
    assert all(a.startswith("10.") for a in addresses)
    assert client_address("contractor", 7) == "10.64.0.7"
    with pytest.raises(ValueError, match="does not fit"):
        client_address("homeowner", 2**22)


def test_configure_refuses_an_index_outside_the_stride() -> None:
    with pytest.raises(ValueError, match="worker_index 3"):
        AccountPool("homeowner", 10).configure(worker_index=3, stride=3)
    with pytest.raises(ValueError, match="seeded account count 0"):
        AccountPool("homeowner", 0)
